"""Console authentication: password hashing, sessions, access tokens and role guards."""
