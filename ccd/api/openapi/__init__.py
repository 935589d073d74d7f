"""The API's OpenAPI 3.1 contract: declarations beside the handlers (``operation``), the
document built from them (``document``), and the routes serving it and its viewer
(``routes``)."""
