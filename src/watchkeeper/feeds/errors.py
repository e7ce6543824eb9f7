"""Errors shared by the file reader (feeds.arrival) and the parser (feeds.parse).

Free of imports, so that the reader can be loaded before anything else
(see watchkeeper.launch).
"""


class UnreadableFile(Exception):
    """The file as a whole cannot be read in the format asked for."""
