"""The JSON API's routers, one per domain, over the domains' services."""
