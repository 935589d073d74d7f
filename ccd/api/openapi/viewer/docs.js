// Swagger UI over ccd's own document; relative URLs keep a reverse proxy's prefix.
// validatorUrl null: the default would send the document to an outside validator.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
  });
});
