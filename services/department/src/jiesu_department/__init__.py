"""department-response (承办): units sign for, handle, reply to or return their cases."""
