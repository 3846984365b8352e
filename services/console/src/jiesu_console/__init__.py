"""console: the web pages for people (监督考核驾驶舱), rendered from the services\x27 public APIs."""
