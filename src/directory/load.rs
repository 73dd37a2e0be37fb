//! Loads a directory file and checks everything before use: YAML errors (serde-saphyr,
//! with duplicate keys and unknown keys), then every semantic problem at once — office
//! ids, ISTAT province siglas, numbers that cannot be put in E.164, a number on two
//! offices, unknown `default_office` or `parent`, parent loops, region names that are not
//! ISTAT's, prompt ids. Every diagnostic has file, line, column and a snippet.

use super::province;
use super::{DestinationOverride, Directory, Inner, Office, OfficeKind};
use crate::ivr::schedule::Schedule;
use crate::ivr::tree::diag::{Diagnostic, Diagnostics};
use crate::plugin::Section;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::sync::Arc;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// The office used when the dialled number is not listed.
    default_office: Spanned<String>,
    /// Every office, by id.
    offices: Spanned<IndexMap<Spanned<String>, RawOffice>>,
    /// Names and addresses of each region's CRIC sections and GAI, by ISTAT region name.
    #[serde(default)]
    regions: IndexMap<Spanned<String>, RawRegion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffice {
    name: String,
    kind: OfficeKind,
    #[serde(default)]
    numbers: Vec<Spanned<String>>,
    province: Spanned<String>,
    address: Option<String>,
    schedule: Option<Schedule>,
    prompt: Option<Spanned<String>>,
    parent: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    #[serde(default)]
    cric: RawCric,
    gai: Option<RawDestination>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCric {
    pensioni: Option<RawDestination>,
    sostegno_reddito: Option<RawDestination>,
    contribuente: Option<RawDestination>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: Option<Spanned<String>>,
    address: Option<String>,
}

fn at<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}

pub(super) fn from_yaml(
    file: &str,
    text: &str,
) -> Result<(Directory, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut d = Diagnostics::new(file, text);
    let raw: RawFile = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            d.error(yaml_error_location(&e), yaml_error_message(&e));
            return Err(d.list);
        }
    };
    let inner = Checker { d: &mut d }.check(file, &raw);
    d.list.sort_by_key(|x| (x.line, x.column));
    if d.has_errors() {
        return Err(d.list);
    }
    Ok((
        Directory {
            inner: Arc::new(inner),
        },
        d.list,
    ))
}

fn yaml_error_location(e: &serde_saphyr::Error) -> (u64, u64) {
    e.location().map_or((0, 0), |l| (l.line(), l.column()))
}

/// serde-saphyr's Display starts "line L column C: message" and then renders its own
/// snippet; we keep the message and render ours, like every other diagnostic.
fn yaml_error_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = first
        .split_once(": ")
        .filter(|(p, _)| p.starts_with("line "))
        .map_or(first, |(_, m)| m);
    message
        .trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable")
        .to_owned()
}

struct Checker<'d, 'a> {
    d: &'d mut Diagnostics<'a>,
}

impl Checker<'_, '_> {
    fn check(&mut self, file: &str, raw: &RawFile) -> Inner {
        let mut offices: IndexMap<String, Arc<Office>> = IndexMap::new();
        // E.164 number -> (office id, where it was first written).
        let mut owners: HashMap<String, (&str, (u64, u64))> = HashMap::new();
        for (id, o) in &raw.offices.value {
            let office = self.office(id, o, &mut owners);
            offices.insert(id.value.clone(), Arc::new(office));
        }
        for (id, o) in &raw.offices.value {
            if let Some(parent) = &o.parent {
                self.parent(&offices, &id.value, parent);
            }
        }
        self.parent_loops(raw, &offices);

        let default_office = match offices.get(&raw.default_office.value) {
            Some(o) => Some(o.clone()),
            None => {
                let id = &raw.default_office.value;
                let hint = hint_for(id, offices.keys());
                self.d.error(
                    at(&raw.default_office),
                    format!("default_office: unknown office `{id}`{hint}"),
                );
                None
            }
        };
        if raw.offices.value.is_empty() {
            self.d.error(at(&raw.offices), "`offices` lists no office");
        }
        for (id, o) in &raw.offices.value {
            if o.numbers.is_empty() && id.value != raw.default_office.value {
                self.d.warning(
                    at(id),
                    format!(
                        "office `{}` has no numbers: no dialled number leads to it",
                        id.value
                    ),
                );
            }
        }

        let mut destinations = HashMap::new();
        for (name, region) in &raw.regions {
            self.region(name, region, &mut destinations);
        }

        let by_number = offices
            .values()
            .flat_map(|o| o.numbers.iter().map(move |n| (n.clone(), o.clone())))
            .collect();
        Inner {
            source: file.to_owned(),
            offices,
            by_number,
            default_office,
            destinations,
        }
    }

    fn office<'r>(
        &mut self,
        id: &'r Spanned<String>,
        o: &'r RawOffice,
        owners: &mut HashMap<String, (&'r str, (u64, u64))>,
    ) -> Office {
        let here = at(id);
        if id.value.is_empty()
            || !id
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.d.error(
                here,
                format!("office id `{}`: use letters, digits, `-` and `_`", id.value),
            );
        }
        if o.name.trim().is_empty() {
            self.d
                .error(here, format!("office `{}` has an empty name", id.value));
        }

        let sigla = &o.province.value;
        let region = match province::province(sigla) {
            Some(p) => p.region.to_owned(),
            None => {
                let hint = province::sigla_hint(sigla)
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default();
                self.d.error(
                    at(&o.province),
                    format!(
                        "unknown province `{sigla}`: expected an ISTAT sigla such as `RM` or `MI`{hint}"
                    ),
                );
                String::new()
            }
        };

        let mut numbers: Vec<String> = Vec::new();
        for n in &o.numbers {
            let Some(e164) = super::normalise_e164(&n.value) else {
                self.d.error(
                    at(n),
                    format!(
                        "number `{}` cannot be put in E.164: write it as +39…, 0039… or an Italian national number (0…, 3…, 80x, 84x, 199)",
                        n.value
                    ),
                );
                continue;
            };
            match owners.get(&e164) {
                Some((owner, _)) if *owner == id.value => {
                    self.d.warning(
                        at(n),
                        format!(
                            "number `{}` ({e164}) is listed twice for this office",
                            n.value
                        ),
                    );
                    continue;
                }
                Some((owner, (line, column))) => {
                    self.d.error(
                        at(n),
                        format!(
                            "number `{}` ({e164}) already belongs to office `{owner}` (line {line}, column {column})",
                            n.value
                        ),
                    );
                    continue;
                }
                None => {
                    owners.insert(e164.clone(), (&id.value, at(n)));
                }
            }
            numbers.push(e164);
        }

        if let Some(p) = &o.prompt
            && !prompt_id_ok(&p.value)
        {
            self.d.error(
                at(p),
                format!(
                    "prompt `{}`: a prompt id is a relative path of letters, digits, `-`, `_` and `/`, without `.wav` (e.g. `uffici/roma-eur`)",
                    p.value
                ),
            );
        }

        Office {
            id: id.value.clone(),
            name: o.name.trim().to_owned(),
            kind: o.kind,
            numbers,
            province: sigla.clone(),
            region,
            address: o.address.clone().filter(|a| !a.trim().is_empty()),
            hours: o.schedule.clone(),
            prompt: o.prompt.as_ref().map(|p| p.value.clone()),
            parent: o.parent.as_ref().map(|p| p.value.clone()),
        }
    }

    fn parent(
        &mut self,
        offices: &IndexMap<String, Arc<Office>>,
        child_id: &str,
        parent: &Spanned<String>,
    ) {
        let id = &parent.value;
        let Some(p) = offices.get(id) else {
            let hint = hint_for(id, offices.keys());
            self.d
                .error(at(parent), format!("parent: unknown office `{id}`{hint}"));
            return;
        };
        if id == child_id {
            self.d
                .error(at(parent), format!("office `{id}` is its own parent"));
            return;
        }
        let child = &offices[child_id];
        if p.kind.is_agency() {
            self.d.warning(
                at(parent),
                format!(
                    "parent `{id}` is an agency ({}): an office belongs to a directorate or a metropolitan branch",
                    p.kind.name()
                ),
            );
        }
        if !p.region.is_empty() && !child.region.is_empty() && p.region != child.region {
            self.d.warning(
                at(parent),
                format!(
                    "parent `{id}` is in {} but office `{child_id}` is in {}",
                    p.region, child.region
                ),
            );
        }
    }

    /// A chain of parents that comes back to where it started (longer than one office,
    /// which [`Checker::parent`] reports) is reported once, at the first office of it.
    fn parent_loops(&mut self, raw: &RawFile, offices: &IndexMap<String, Arc<Office>>) {
        let mut reported: Vec<&str> = Vec::new();
        for (id, o) in &raw.offices.value {
            let mut chain: Vec<&str> = vec![&id.value];
            let mut next = o.parent.as_ref().map(|p| p.value.as_str());
            while let Some(p) = next {
                if p == chain[0] {
                    if chain.len() > 1 && !chain.iter().any(|c| reported.contains(c)) {
                        reported.extend(chain.iter().copied());
                        chain.push(p);
                        self.d.error(
                            at(id),
                            format!("parents form a loop: {}", chain.join(" → ")),
                        );
                    }
                    break;
                }
                if chain.contains(&p) {
                    break; // a loop further up: reported from one of its own offices
                }
                chain.push(p);
                next = offices.get(p).and_then(|o| o.parent.as_deref());
            }
        }
    }

    fn region(
        &mut self,
        name: &Spanned<String>,
        region: &RawRegion,
        out: &mut HashMap<(&'static str, Section), DestinationOverride>,
    ) {
        let Some(canonical) = province::region(&name.value) else {
            let hint = province::region_hint(&name.value)
                .map(|h| format!("; did you mean `{h}`?"))
                .unwrap_or_default();
            self.d.error(
                at(name),
                format!(
                    "unknown region `{}`: expected an ISTAT region name such as `Lazio` or `Trentino-Alto Adige/Südtirol`{hint}",
                    name.value
                ),
            );
            return;
        };
        let sections = [
            (Section::Pensioni, &region.cric.pensioni),
            (Section::SostegnoReddito, &region.cric.sostegno_reddito),
            (Section::Contribuente, &region.cric.contribuente),
            (Section::AssistenzaInformatica, &region.gai),
        ];
        for (section, dest) in sections {
            let Some(dest) = dest else { continue };
            if let Some(n) = &dest.name
                && n.value.trim().is_empty()
            {
                self.d.error(
                    at(n),
                    "an empty name: leave `name` out to use the usual one",
                );
            }
            out.insert(
                (canonical, section),
                DestinationOverride {
                    name: dest
                        .name
                        .as_ref()
                        .map(|n| n.value.trim().to_owned())
                        .filter(|n| !n.is_empty()),
                    address: dest.address.clone().filter(|a| !a.trim().is_empty()),
                },
            );
        }
    }
}

/// ` (did you mean `x`?)` for a differently-cased id, else empty.
fn hint_for<'a>(id: &str, mut known: impl Iterator<Item = &'a String>) -> String {
    known
        .find(|k| k.eq_ignore_ascii_case(id))
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// `uffici/roma-eur`: non-empty segments of letters, digits, `-` and `_`.
fn prompt_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}
