"""The API's wire models by area: the pydantic models its answers are built from (and
the request models not kept beside their handlers). The OpenAPI document
(``ccd.api.openapi``) is generated from them."""
