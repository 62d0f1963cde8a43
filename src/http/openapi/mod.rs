//! The OpenAPI description of the HTTP API (utoipa), served at `GET /openapi.json` and
//! committed as `docs/openapi.json` (a test keeps them equal). Each operation is described by
//! the annotation on its handler, and each area's `routes()` registers the handler and its
//! description together (`super::routes`); this module holds what is common (the title,
//! the tags, the admin token's scheme) and the request bodies' schemas. The checkout body,
//! which the handler reads leniently (`RawCheckout`, so that every request the old backend
//! sent keeps working), is described by its contract in [`schemas`].

pub mod admin;
pub mod feed;
pub mod operator;
pub mod schemas;

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "h2s-dispatch",
        description = "Checkout to dispatch: every paid order gets exactly one dispatch job. \
                       Errors have the shape {ok: false, error: {code, message, field}}.",
        version = "1"
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "storefront", description = "Checkout and order status"),
        (name = "stripe", description = "Stripe's webhook"),
        (name = "operations", description = "Probes and metrics"),
        (name = "admin", description = "Operator routes (Authorization: Bearer ADMIN_TOKEN)"),
    )
)]
struct ApiDoc;

/// What every operation shares; the routes add themselves to it.
pub(super) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The description as served and committed: pretty JSON with a final newline.
pub fn render(description: &utoipa::openapi::OpenApi) -> String {
    let mut value = serde_json::to_value(description).expect("the description serialises");
    amend(&mut value);
    let mut text = serde_json::to_string_pretty(&value).expect("the description serialises");
    text.push('\n');
    text
}

/// What utoipa 5 cannot write: a link's fields as OpenAPI spells them (it writes
/// `operation_id`), and the PATCH body's `minProperties`.
fn amend(description: &mut serde_json::Value) {
    let paths = description["paths"].as_object_mut().into_iter().flatten();
    let operations = paths.flat_map(|(_, item)| item.as_object_mut().into_iter().flatten());
    for (_, operation) in operations {
        let responses = operation["responses"].as_object_mut().into_iter().flatten();
        for (_, response) in responses {
            let links = response.get_mut("links").and_then(|l| l.as_object_mut());
            for (_, link) in links.into_iter().flatten() {
                if let Some(link) = link.as_object_mut()
                    && let Some(id) = link.remove("operation_id")
                {
                    link.insert("operationId".into(), id);
                }
            }
        }
    }
    description["components"]["schemas"]["EndpointPatch"]["minProperties"] = 1.into();
}
