"""The tenants: customers, and the users and API tokens that act for them.

Part of the core: every other domain's objects belong to a customer (a
service, an alert's service, a case), so customers sit below all of them
and import none of them. A customer's support plan, contacts and cases stay
with the desk (watchkeeper.support), which builds on customers, not the
other way round.

The package keeps the name `auth` rather than `tenants`: tokens and the
principal they stand for are what most of it decides, and the routes and
commands that check them already name it.
"""
