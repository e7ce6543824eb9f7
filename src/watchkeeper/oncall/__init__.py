"""On-call: who is paged when an incident opens, in what order, on which channels."""
