"""What the query and admin functions share: error mapping, auth, request parsing."""
