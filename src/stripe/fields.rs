//! Which fields of which Stripe objects this system reads: everything else in an event or an
//! answer, known or unknown, present or absent, any type, is never looked at, so any API
//! version is accepted. The readers ([`super::events`], [`super::session_facts`],
//! [`super::money_facts`]) read exactly these; the README's table is generated from this list
//! (`tests/api/stripe_versions.rs` compares them, and mutates every other field of Stripe's
//! sample objects to show that nothing else is read).

/// A field a reader needs and did not find (or found of another type): the event cannot be
/// used. Names the field, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Missing(pub &'static str);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One object's fields as read: dotted paths from the object; `metadata` is read whole.
/// A field named with `(needed)` must be there for the event to be used.
pub struct ObjectFields {
    pub object: &'static str,
    pub read: &'static [&'static str],
    pub needed: &'static [&'static str],
    /// The event types whose `data.object` this object is.
    pub in_events: &'static str,
}

/// The event envelope and the objects of the event types acted on.
pub const READ: &[ObjectFields] = &[
    ObjectFields {
        object: "event",
        read: &[
            "id",
            "type",
            "created",
            "livemode",
            "api_version",
            "data.object",
        ],
        needed: &["id", "type"],
        in_events: "every event",
    },
    ObjectFields {
        object: "checkout.session",
        read: &[
            "id",
            "status",
            "payment_status",
            "metadata",
            "client_reference_id",
            "payment_intent",
            "amount_total",
            "currency",
            "customer_details.email",
            "customer_details.name",
            "customer_details.phone",
            "customer_email",
            "expires_at",
            "url",
        ],
        needed: &["id", "payment_status (for `completed`)"],
        in_events: "`checkout.session.completed`, `.async_payment_succeeded`, `.async_payment_failed`, `.expired`; also sessions retrieved and listed by the sweep and the worker",
    },
    ObjectFields {
        object: "charge",
        read: &[
            "id",
            "amount",
            "amount_refunded",
            "refunded",
            "captured",
            "amount_captured",
            "payment_intent",
        ],
        needed: &["id", "amount_refunded (for `refunded`)", "payment_intent"],
        in_events: "`charge.refunded`, `charge.captured`, `charge.expired`",
    },
    ObjectFields {
        object: "payment_intent",
        read: &[
            "id",
            "status",
            "amount_capturable",
            "amount_received",
            "cancellation_reason",
            "latest_charge.payment_method_details.card.capture_before",
        ],
        needed: &["id"],
        in_events: "`payment_intent.amount_capturable_updated`, `.succeeded`, `.canceled` (of a manual-capture order); also the answers to retrieving, capturing and cancelling a PaymentIntent",
    },
    ObjectFields {
        object: "refund",
        read: &[
            "id",
            "amount",
            "status",
            "failure_reason",
            "metadata",
            "payment_intent",
        ],
        needed: &["id", "amount", "payment_intent"],
        in_events: "`refund.created`, `refund.updated`, `refund.failed`; also the answer to `POST /v1/refunds` and the PaymentIntent's refunds listed",
    },
    ObjectFields {
        object: "dispute",
        read: &["id", "amount", "reason", "status", "payment_intent"],
        needed: &[
            "id",
            "payment_intent",
            "status (for `closed`: won, warning_closed, prevented or lost)",
        ],
        in_events: "`charge.dispute.created`, `charge.dispute.closed`",
    },
];

/// The README's table of [`READ`].
pub fn readme_table() -> String {
    let code = |names: &[&str]| {
        names
            .iter()
            .map(|n| match n.split_once(' ') {
                Some((name, why)) => format!("`{name}` {why}"),
                None => format!("`{n}`"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut table = String::from("| object | in | fields read | needed |\n|---|---|---|---|\n");
    for o in READ {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            o.object,
            o.in_events,
            code(o.read),
            code(o.needed)
        ));
    }
    table
}
