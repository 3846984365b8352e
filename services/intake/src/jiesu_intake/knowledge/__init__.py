"""The knowledge base for direct answers (直办): policy articles, their versions, and the
suggestions an operator sees for an inquiry's text."""
