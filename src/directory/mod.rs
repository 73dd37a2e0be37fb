//! The office directory: which office a dialled number belongs to, its province and
//! region (ISTAT), and where that region's consultancy requests go (the CRIC sections and
//! the GAI). Numbers are keyed in E.164 (ITU-T E.164). Loaded from YAML
//! (`directory/inps.yaml`, format in `docs/directory.md`), checked at load time with
//! file, line and column; immutable once loaded, so a reload swaps a whole `Directory`.
//!
//! ```yaml
//! default_office: contact-center      # used when the dialled number is not listed
//! offices:
//!   roma-eur:
//!     name: Agenzia complessa Roma EUR
//!     kind: agenzia-complessa
//!     numbers: ["06 5905 1000"]      # any usual form; kept as +390659051000
//!     province: RM                    # ISTAT sigla: gives the region (Lazio)
//!     parent: roma
//!     prompt: uffici/roma-eur
//!     schedule: {hours: {mon-fri: ["08:30-12:30"]}, patron: [06-29]}
//! regions:                            # optional: names and addresses per region
//!   Lazio:
//!     cric:
//!       pensioni: {address: cric.lazio.pensioni@inps.example}
//!     gai: {name: GAI Lazio, address: gai.lazio@inps.example}
//! ```

mod load;
mod number;
pub mod province;

pub use crate::ivr::tree::diag::{Diagnostic, Severity};
pub use number::normalise_e164;

use crate::ivr::schedule::Schedule;
use crate::plugin::Section;
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// What an office is in INPS's territorial organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OfficeKind {
    /// The national contact centre (the usual `default_office`).
    ContactCenter,
    /// Head office.
    DirezioneGenerale,
    /// Regional directorate.
    DirezioneRegionale,
    /// Provincial directorate.
    DirezioneProvinciale,
    /// Metropolitan branch (the large cities' equivalent of a provincial directorate).
    FilialeMetropolitana,
    /// Complex agency: full services, under a directorate.
    AgenziaComplessa,
    /// Territorial agency: a smaller local office.
    AgenziaTerritoriale,
}

impl OfficeKind {
    /// The name used in YAML (`agenzia-complessa`).
    pub fn name(self) -> &'static str {
        match self {
            OfficeKind::ContactCenter => "contact-center",
            OfficeKind::DirezioneGenerale => "direzione-generale",
            OfficeKind::DirezioneRegionale => "direzione-regionale",
            OfficeKind::DirezioneProvinciale => "direzione-provinciale",
            OfficeKind::FilialeMetropolitana => "filiale-metropolitana",
            OfficeKind::AgenziaComplessa => "agenzia-complessa",
            OfficeKind::AgenziaTerritoriale => "agenzia-territoriale",
        }
    }

    /// Agencies serve the public under a directorate; they are nobody's `parent`.
    pub fn is_agency(self) -> bool {
        matches!(
            self,
            OfficeKind::AgenziaComplessa | OfficeKind::AgenziaTerritoriale
        )
    }
}

/// One office, as loaded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Office {
    /// The directory key (`roma-eur`): letters, digits, `-`, `_`.
    pub id: String,
    /// Display name (`Agenzia complessa Roma EUR`).
    pub name: String,
    pub kind: OfficeKind,
    /// Its numbers in E.164, in file order.
    pub numbers: Vec<String>,
    /// ISTAT sigla (`RM`).
    pub province: String,
    /// ISTAT region of the province (`Lazio`).
    pub region: String,
    /// Postal address, for operators and confirmations.
    pub address: Option<String>,
    /// Opening hours and local holidays (patron saint), when given.
    pub hours: Option<Schedule>,
    /// Prompt id speaking the office name (`uffici/roma-eur`), relative to the language
    /// folder.
    pub prompt: Option<String>,
    /// The directorate this office belongs to (its id).
    pub parent: Option<String>,
}

/// Where a dialled number leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The number in E.164, or as dialled when it could not be normalised.
    pub number: String,
    /// The office of that number, else the default office (`None` only when the directory
    /// has no default office, e.g. [`Directory::empty`]).
    pub office: Option<Arc<Office>>,
    /// True when the number is listed; false when the default office stands in.
    pub known: bool,
    /// Province sigla and region of `office` (of the default office when `known` is false).
    pub province: Option<String>,
    pub region: Option<String>,
}

impl Resolved {
    /// The office id, if any.
    pub fn office_id(&self) -> Option<&str> {
        self.office.as_deref().map(|o| o.id.as_str())
    }
}

/// A back-office destination: a CRIC section or a GAI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Display name (`CRIC Lazio — pensioni`).
    pub name: String,
    /// Where it is reached (an e-mail, a queue name…), when configured.
    pub address: Option<String>,
}

/// A configured name and address for one region's section (either may be absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DestinationOverride {
    name: Option<String>,
    address: Option<String>,
}

/// The loaded directory. Cheap to clone (shared, immutable); lookups are hash lookups.
#[derive(Debug, Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The file it came from, for logs.
    source: String,
    offices: IndexMap<String, Arc<Office>>,
    by_number: HashMap<String, Arc<Office>>,
    default_office: Option<Arc<Office>>,
    destinations: HashMap<(&'static str, Section), DestinationOverride>,
}

impl Directory {
    /// Loads and checks a directory file. `Ok` carries the directory and its warnings;
    /// `Err` every diagnostic when at least one is an error. A caller reloading a file
    /// keeps its previous directory on `Err`.
    pub fn load(path: &Path) -> Result<(Directory, Vec<Diagnostic>), Vec<Diagnostic>> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Directory::from_yaml(&name, &text),
            Err(e) => Err(vec![Diagnostic {
                severity: Severity::Error,
                file: name,
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
                snippet: None,
            }]),
        }
    }

    /// As [`Directory::load`], from text; `name` names the file in diagnostics.
    pub fn from_yaml(
        name: &str,
        text: &str,
    ) -> Result<(Directory, Vec<Diagnostic>), Vec<Diagnostic>> {
        load::from_yaml(name, text)
    }

    /// A directory with no offices: every number resolves to itself alone.
    pub fn empty() -> Directory {
        Directory {
            inner: Arc::new(Inner::default()),
        }
    }

    /// The office of a dialled number (any form [`normalise_e164`] accepts), falling back
    /// to the default office when the number is unknown or not a phone number.
    pub fn resolve(&self, dialled: &str) -> Resolved {
        let e164 = normalise_e164(dialled);
        let listed = e164.as_ref().and_then(|n| self.inner.by_number.get(n));
        let known = listed.is_some();
        let office = listed.or(self.inner.default_office.as_ref()).cloned();
        Resolved {
            number: e164.unwrap_or_else(|| dialled.to_owned()),
            province: office.as_ref().map(|o| o.province.clone()),
            region: office.as_ref().map(|o| o.region.clone()),
            office,
            known,
        }
    }

    /// The office with this id.
    pub fn office(&self, id: &str) -> Option<&Office> {
        self.inner.offices.get(id).map(|o| &**o)
    }

    /// Every office, in file order.
    pub fn offices(&self) -> impl Iterator<Item = &Office> {
        self.inner.offices.values().map(|o| &**o)
    }

    /// The office used for unknown numbers.
    pub fn default_office(&self) -> Option<&Office> {
        self.inner.default_office.as_deref()
    }

    /// The file the directory was loaded from (empty for [`Directory::empty`]).
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Where a request of `section` from `region` goes: the region's CRIC section, or its
    /// GAI for [`Section::AssistenzaInformatica`]. `region` is an ISTAT name, in any case
    /// (menus compare ignoring case). Names not configured in `regions:` are derived
    /// (`CRIC Lazio — pensioni`, `GAI Lazio`).
    pub fn destination(&self, region: &str, section: Section) -> Destination {
        let canonical = province::region(region).or_else(|| {
            let lower = region.to_lowercase();
            province::regions()
                .iter()
                .copied()
                .find(|r| r.to_lowercase() == lower)
        });
        let configured = canonical.and_then(|r| self.inner.destinations.get(&(r, section)));
        let configured = configured.cloned().unwrap_or_default();
        Destination {
            name: configured
                .name
                .unwrap_or_else(|| derived_name(canonical.unwrap_or(region), section)),
            address: configured.address,
        }
    }

    /// The ISTAT region of a province sigla (`RM` → `Lazio`).
    pub fn region_of(&self, sigla: &str) -> Option<&str> {
        province::province(sigla).map(|p| p.region)
    }
}

/// `CRIC <Regione> — <sezione>` or `GAI <Regione>`.
pub fn derived_name(region: &str, section: Section) -> String {
    match section {
        Section::Pensioni => format!("CRIC {region} — pensioni"),
        Section::SostegnoReddito => {
            format!("CRIC {region} — prestazioni a sostegno del reddito")
        }
        Section::Contribuente => format!("CRIC {region} — soggetto contribuente"),
        Section::AssistenzaInformatica => format!("GAI {region}"),
    }
}

#[cfg(test)]
mod tests;
