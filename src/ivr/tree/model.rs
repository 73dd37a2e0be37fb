//! The YAML language of voice menus (`ivr-trees/*.yaml`), as serde types. The JSON Schema
//! published by `centralino schema` is generated from these same types.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A node id written in YAML, with where it was written (for diagnostics).
pub type NodeRef = Spanned<String>;

/// One voice portal: its nodes, where calls start, and menu defaults.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeFile {
    /// A name for logs and graphs, e.g. "INPS — Contact Center".
    pub name: Option<String>,
    pub description: Option<String>,
    /// Prompt language folder used until a `language` node changes it. Default `it`.
    pub language: Option<String>,
    /// The node every call starts at.
    #[schemars(with = "String")]
    pub start: NodeRef,
    /// Settings every menu inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Named opening-hours schedules, for `branch: {schedule: NAME}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub schedules: IndexMap<String, crate::ivr::schedule::Schedule>,
    /// Every node by id. Ids are free text (letters, digits, `-`, `_`).
    #[schemars(with = "IndexMap<String, Node>")]
    pub nodes: IndexMap<String, Spanned<Node>>,
}

/// Menu settings inherited by every menu (FreeSWITCH-like defaults).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The global operator key (default `0`); a menu can turn it off.
    pub operator_key: Option<String>,
    /// The node the operator key leads to. Without it, no operator key anywhere.
    #[schemars(with = "Option<String>")]
    pub operator: Option<NodeRef>,
    /// Wait for the first key after the greeting, ms (default 5000).
    pub timeout_ms: Option<u64>,
    /// Wait between keys of a multi-digit choice, ms (default 2000).
    pub inter_digit_ms: Option<u64>,
    /// Invalid choices before `exit` (default 3).
    pub max_failures: Option<u32>,
    /// Timeouts before `exit` (default 3).
    pub max_timeouts: Option<u32>,
    /// Played after an invalid choice.
    pub invalid: Option<Prompts>,
    /// Played after a timeout.
    pub timeout: Option<Prompts>,
    /// Where a menu goes after too many failures or timeouts (default: hang up).
    #[schemars(with = "Option<String>")]
    pub exit: Option<NodeRef>,
    /// Repeats the menu (default `*`).
    pub repeat_key: Option<String>,
    /// Returns to the previous menu (default: none).
    pub back_key: Option<String>,
}

/// What a node does. Written as a one-key map: `menu: {...}`, `play: {...}`, …
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    Menu(Menu),
    Play(Play),
    Collect(Collect),
    Branch(Branch),
    Language(Language),
    Queue(Handoff),
    Ticket(Ticket),
    Appointment(Appointment),
    Transfer(Handoff),
    Hangup(Hangup),
    /// The built-in DTMF test line (diagnostic): each key is spoken back, `#` ends.
    TestLine(TestLine),
}

/// A list of things to say: prompt ids, or values spoken in Italian. Each item keeps
/// its location so a missing prompt is reported where it is written.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Prompts(pub Vec<Spanned<PromptItem>>);

impl JsonSchema for Prompts {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Prompts".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Vec<PromptItem>>()
    }
}

/// One item of a prompt list.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum PromptItem {
    /// A prompt id relative to the language folder, e.g. `menu-principale`.
    Prompt(String),
    /// A value spoken from recorded fragments.
    Say(Say),
}

/// `{say: number, var: practice}`, `{say: date, value: "2026-12-01"}` or `{say: office}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Say {
    pub say: SayKind,
    /// A variable (collected digits, or a built-in such as `pension_payment_date`).
    pub var: Option<String>,
    /// A literal value instead of a variable.
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SayKind {
    Number,
    Digits,
    Date,
    Time,
    Euro,
    /// The dialled office's name, from its recorded prompt in the office directory
    /// (nothing when the number is not in the directory). No `var` or `value`.
    Office,
}

/// A choice by keys.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// Played the first time.
    pub greeting: Prompts,
    /// Played on repeats (after an invalid key, a timeout, `repeat_key`, or coming back).
    pub short_greeting: Option<Prompts>,
    /// Key (`"1"`), multi-digit string (`"12"`) or pattern (`"_9X"`: X any digit, Z 1–9,
    /// N 2–9, `[1-4]` a set) → node id.
    #[schemars(with = "IndexMap<String, String>")]
    pub options: IndexMap<String, NodeRef>,
    /// A key pressed during the greeting stops it (default true).
    pub barge_in: Option<bool>,
    /// The operator key works here (default true when `defaults.operator` is set).
    pub operator: Option<bool>,
    pub timeout_ms: Option<u64>,
    pub inter_digit_ms: Option<u64>,
    pub max_failures: Option<u32>,
    pub max_timeouts: Option<u32>,
    pub invalid: Option<Prompts>,
    pub timeout: Option<Prompts>,
    #[schemars(with = "Option<String>")]
    pub exit: Option<NodeRef>,
    /// `""` turns the inherited repeat key off here.
    pub repeat_key: Option<String>,
    /// `""` turns the inherited back key off here (e.g. in the first menu).
    pub back_key: Option<String>,
}

/// Canned answer: prompts, then another node (or hang up when `next` is absent).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Play {
    pub prompts: Prompts,
    #[schemars(with = "Option<String>")]
    pub next: Option<NodeRef>,
    /// A key skips the rest of the prompts (default false); the operator key always works.
    pub skippable: Option<bool>,
}

/// Reads several digits into a variable.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Collect {
    /// The variable that receives the digits.
    pub var: String,
    pub prompt: Prompts,
    /// Minimum and maximum number of digits (default 1 and 20).
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// Ends the input early (default `#`).
    pub terminator: Option<String>,
    pub timeout_ms: Option<u64>,
    pub inter_digit_ms: Option<u64>,
    pub max_failures: Option<u32>,
    pub invalid: Option<Prompts>,
    /// Read the digits back and ask to confirm with 1 or re-enter with 2.
    pub confirm: Option<bool>,
    #[schemars(with = "String")]
    pub next: NodeRef,
    #[schemars(with = "Option<String>")]
    pub exit: Option<NodeRef>,
}

/// Chooses the next node. Exactly one of `schedule`, `var`, `office`, `province`,
/// `region` says on what.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// A schedule name from `schedules`: goes to `open` or `closed`.
    #[schemars(with = "Option<String>")]
    pub schedule: Option<NodeRef>,
    #[schemars(with = "Option<String>")]
    pub open: Option<NodeRef>,
    #[schemars(with = "Option<String>")]
    pub closed: Option<NodeRef>,
    /// A variable's value, looked up in `cases`.
    pub var: Option<String>,
    /// The dialled office number (E.164 or as dialled), looked up in `cases`.
    #[serde(default)]
    pub office: bool,
    /// The province (sigla, e.g. `RM`) of the dialled office, looked up in `cases`.
    #[serde(default)]
    pub province: bool,
    /// The region of the dialled office, looked up in `cases`.
    #[serde(default)]
    pub region: bool,
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub cases: IndexMap<String, NodeRef>,
    /// When no case matches (or the value is unknown).
    #[schemars(with = "Option<String>")]
    pub default: Option<NodeRef>,
}

/// Sets the prompt language folder (e.g. `en`) for the rest of the call.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Language {
    pub set: String,
    #[schemars(with = "String")]
    pub next: NodeRef,
}

/// Hands the call to a queue, the ticket desk, the appointment book or another number.
/// Until that service exists here, the caller hears that it is not available and the
/// call follows `fallback` (or hangs up).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// Queue or section name, ticket section, service, or number.
    pub target: String,
    /// Queues only: callers with a higher priority wait ahead of lower ones (default 0),
    /// e.g. a menu branch for urgent cases.
    pub priority: Option<i32>,
    #[schemars(with = "Option<String>")]
    pub fallback: Option<NodeRef>,
}

/// Opens a Linea INPS ticket for the CRIC section (or the GAI) of the caller's region:
/// records the caller's question after a tone, stores the request, reads its id back.
/// If the request cannot be stored, the caller is told so and the call follows
/// `fallback` (or hangs up): never a false confirmation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ticket {
    /// `pensioni`, `sostegno-reddito`, `contribuente` (CRIC sections) or
    /// `assistenza-informatica` (the regional IT-assistance group, GAI).
    pub target: String,
    /// Record a spoken question after a tone (default true).
    pub record: Option<bool>,
    /// Longest question, seconds (default 60). `#` ends it sooner.
    pub max_seconds: Option<u32>,
    /// Played before the tone (default `ticket/domanda`: how to leave the question).
    pub prompt: Option<Prompts>,
    /// Where the call goes after the id is read back (default: goodbye and hang up).
    #[schemars(with = "Option<String>")]
    pub next: Option<NodeRef>,
    #[schemars(with = "Option<String>")]
    pub fallback: Option<NodeRef>,
}

/// Books an appointment with an officer of the caller's agency: offers up to three free
/// slots ("martedì tre dicembre alle ore dieci e trenta, prema uno"), asks to confirm,
/// stores the booking and reads it back.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Appointment {
    /// The service, passed to the appointment book (e.g. `agenzia`, `pensioni`).
    pub target: String,
    /// Where the call goes after the booking is read back (default: goodbye, hang up).
    #[schemars(with = "Option<String>")]
    pub next: Option<NodeRef>,
    /// No slot free, no choice made, or the booking could not be stored.
    #[schemars(with = "Option<String>")]
    pub fallback: Option<NodeRef>,
}

/// Ends the call, optionally after a goodbye.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hangup {
    #[serde(default)]
    pub prompts: Prompts,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestLine {}

// By hand rather than `#[serde(untagged)]`: untagged buffering loses serde-saphyr's
// locations and turns every mistake inside `{say: ...}` into "did not match any variant".
impl<'de> Deserialize<'de> for PromptItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PromptItem;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a prompt id, or a map like {say: number, var: NAME}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PromptItem, E> {
                Ok(PromptItem::Prompt(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PromptItem, A::Error> {
                Say::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PromptItem::Say)
            }
        }
        d.deserialize_any(V)
    }
}
