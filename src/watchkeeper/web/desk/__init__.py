"""The web desk: HTML pages for the operator's staff and a portal for each customer.

A third face over the same services as the JSON API and the command line
(docs/web.md): pages parse a request, call a domain's service, and render a
template. Every asset is served from the package (static/), nothing from a
CDN; partial updates are htmx's, live ones a Server-Sent Events stream.
"""
