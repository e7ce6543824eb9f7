"""API tokens: created by an operator, stored hashed, checked on every request."""
