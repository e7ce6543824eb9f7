"""Support desk: customers, plans in business time, cases, enquiries."""
