//! Directory loading: every diagnostic with its location, resolution of numbers, region
//! destinations, and the sample directory shipped in `directory/inps.yaml`.

use super::*;
use crate::ivr::schedule::ClosedReason;
use chrono::NaiveDate;

const SMALL: &str = r#"default_office: contact-center
offices:
  contact-center:
    name: Contact center nazionale
    kind: contact-center
    numbers: ["06 164 164"]
    province: RM
  roma:
    name: Direzione provinciale di Roma
    kind: direzione-provinciale
    numbers: ["06 5905 2000", "+39 06 5905 2001"]
    province: RM
    address: Via Roma 1, 00100 Roma
  roma-eur:
    name: Agenzia complessa Roma EUR
    kind: agenzia-complessa
    numbers: ["06 5905 1000"]
    province: RM
    parent: roma
    prompt: uffici/roma-eur
    schedule:
      hours: {mon: ["08:30-12:30"], tue: ["08:30-12:30", "14:00-16:00"], wed-fri: ["08:30-12:30"]}
      patron: [06-29]
  bolzano:
    name: Direzione provinciale di Bolzano
    kind: direzione-provinciale
    numbers: ["0471 123456"]
    province: BZ
regions:
  Lazio:
    cric:
      pensioni: {address: cric.lazio.pensioni@inps.example}
      contribuente: {name: CRIC Lazio (contributi), address: coda-contributi-lazio}
    gai: {name: GAI Lazio — Roma, address: gai.lazio@inps.example}
"#;

fn load(text: &str) -> Directory {
    match Directory::from_yaml("t.yaml", text) {
        Ok((dir, warnings)) => {
            assert!(warnings.is_empty(), "{warnings:#?}");
            dir
        }
        Err(e) => panic!("{}", render(&e)),
    }
}

fn render(list: &[Diagnostic]) -> String {
    list.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The errors of a file that must not load, as `line:column: message` (its warnings,
/// returned with them, left out).
fn errors(text: &str) -> Vec<String> {
    match Directory::from_yaml("t.yaml", text) {
        Ok(_) => panic!("loaded"),
        Err(list) => {
            assert!(list.iter().all(|d| d.file == "t.yaml"));
            list.iter()
                .filter(|d| d.is_error())
                .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                .collect()
        }
    }
}

fn warnings(text: &str) -> Vec<String> {
    match Directory::from_yaml("t.yaml", text) {
        Ok((_, list)) => list
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect(),
        Err(list) => panic!("{}", render(&list)),
    }
}

// ------------------------------------------------------------------ resolving

#[test]
fn national_and_e164_forms_resolve_to_the_same_office() {
    let dir = load(SMALL);
    for dialled in [
        "0659051000",
        "06 5905 1000",
        "+390659051000",
        "00390659051000",
        "390659051000",
        "tel:+39-06-5905-1000",
    ] {
        let r = dir.resolve(dialled);
        assert_eq!(r.number, "+390659051000", "{dialled}");
        assert_eq!(r.office_id(), Some("roma-eur"), "{dialled}");
        assert!(r.known);
        assert_eq!(r.province.as_deref(), Some("RM"));
        assert_eq!(r.region.as_deref(), Some("Lazio"));
    }
    let r = dir.resolve("0659052001");
    assert_eq!(r.office_id(), Some("roma"));
    let r = dir.resolve("+390471123456");
    assert_eq!(r.office_id(), Some("bolzano"));
    assert_eq!(r.region.as_deref(), Some("Trentino-Alto Adige/Südtirol"));
}

#[test]
fn unknown_numbers_fall_back_to_the_default_office() {
    let dir = load(SMALL);
    let r = dir.resolve("02 8901 2000");
    assert_eq!(r.number, "+390289012000", "normalised even when unknown");
    assert_eq!(r.office_id(), Some("contact-center"));
    assert!(!r.known);
    assert_eq!(r.province.as_deref(), Some("RM"));
    assert_eq!(r.region.as_deref(), Some("Lazio"));
    // Not a phone number at all: kept as dialled.
    let r = dir.resolve("centralino");
    assert_eq!(r.number, "centralino");
    assert_eq!(r.office_id(), Some("contact-center"));
    assert!(!r.known);
    // The default office's own number is known.
    assert!(dir.resolve("06164164").known);
}

#[test]
fn the_empty_directory_knows_no_office() {
    let dir = Directory::empty();
    let r = dir.resolve("06 5905 1000");
    assert_eq!(r.number, "+390659051000");
    assert_eq!(
        (r.office, r.known, r.province, r.region),
        (None, false, None, None)
    );
    assert_eq!(dir.resolve("*51").number, "*51");
    assert!(dir.office("roma").is_none());
    assert_eq!(dir.offices().count(), 0);
    assert_eq!(dir.region_of("RM"), Some("Lazio"));
    assert_eq!(
        dir.destination("Lazio", Section::Pensioni).name,
        "CRIC Lazio — pensioni"
    );
}

#[test]
fn offices_carry_everything_the_file_says() {
    let dir = load(SMALL);
    let o = dir.office("roma-eur").unwrap();
    assert_eq!(o.name, "Agenzia complessa Roma EUR");
    assert_eq!(o.kind, OfficeKind::AgenziaComplessa);
    assert_eq!(o.numbers, ["+390659051000"]);
    assert_eq!((o.province.as_str(), o.region.as_str()), ("RM", "Lazio"));
    assert_eq!(o.parent.as_deref(), Some("roma"));
    assert_eq!(o.prompt.as_deref(), Some("uffici/roma-eur"));
    assert_eq!(o.address, None);
    let hours = o.hours.as_ref().unwrap();
    let at = |d: &str, t: &str| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_time(chrono::NaiveTime::parse_from_str(t, "%H:%M").unwrap())
    };
    assert!(
        hours.is_open(at("2026-06-30", "15:00")),
        "Tuesday afternoon"
    );
    assert!(
        !hours.is_open(at("2026-07-01", "15:00")),
        "Wednesday afternoon"
    );
    assert_eq!(
        hours.why_closed(at("2026-06-29", "09:00")),
        Some(ClosedReason::Patron),
        "Saints Peter and Paul, patrons of Rome"
    );
    let roma = dir.office("roma").unwrap();
    assert_eq!(roma.numbers, ["+390659052000", "+390659052001"]);
    assert_eq!(roma.address.as_deref(), Some("Via Roma 1, 00100 Roma"));
    assert_eq!(roma.hours, None);
    assert_eq!(dir.default_office().unwrap().id, "contact-center");
    let ids: Vec<&str> = dir.offices().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["contact-center", "roma", "roma-eur", "bolzano"]);
    assert_eq!(dir.source(), "t.yaml");
}

#[test]
fn destinations_are_configured_or_derived() {
    let dir = load(SMALL);
    let d = |r: &str, s| dir.destination(r, s);
    assert_eq!(
        d("Lazio", Section::Pensioni),
        Destination {
            name: "CRIC Lazio — pensioni".into(),
            address: Some("cric.lazio.pensioni@inps.example".into())
        }
    );
    assert_eq!(
        d("Lazio", Section::SostegnoReddito),
        Destination {
            name: "CRIC Lazio — prestazioni a sostegno del reddito".into(),
            address: None
        }
    );
    assert_eq!(
        d("Lazio", Section::Contribuente),
        Destination {
            name: "CRIC Lazio (contributi)".into(),
            address: Some("coda-contributi-lazio".into())
        }
    );
    assert_eq!(
        d("Lazio", Section::AssistenzaInformatica),
        Destination {
            name: "GAI Lazio — Roma".into(),
            address: Some("gai.lazio@inps.example".into())
        }
    );
    assert_eq!(
        d("Trentino-Alto Adige/Südtirol", Section::Contribuente).name,
        "CRIC Trentino-Alto Adige/Südtirol — soggetto contribuente"
    );
    assert_eq!(
        d("Sicilia", Section::AssistenzaInformatica),
        Destination {
            name: "GAI Sicilia".into(),
            address: None
        }
    );
    assert_eq!(
        d("lazio", Section::Pensioni),
        d("Lazio", Section::Pensioni),
        "any case"
    );
    assert_eq!(
        d("Atlantide", Section::Pensioni).name,
        "CRIC Atlantide — pensioni",
        "not a region: the name as given"
    );
    assert_eq!(dir.region_of("PA"), Some("Sicilia"));
    assert_eq!(dir.region_of("SU"), None);
}

#[test]
fn a_directory_is_shared_across_threads() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<Directory>();
    shared::<Resolved>();
    let dir = load(SMALL);
    let copy = dir.clone();
    let r = std::thread::spawn(move || copy.resolve("0659051000"))
        .join()
        .unwrap();
    assert_eq!(r.office_id(), Some("roma-eur"));
    assert!(Arc::ptr_eq(
        r.office.as_ref().unwrap(),
        dir.resolve("+390659051000").office.as_ref().unwrap()
    ));
}

// ------------------------------------------------------------------ errors

#[test]
fn every_semantic_error_is_reported_at_once_with_its_location() {
    let text = r#"default_office: centro
offices:
  roma:
    name: Direzione provinciale di Roma
    kind: direzione-provinciale
    numbers: ["06 5905 2000", "*51", "06 5905 1000"]
    province: Rm
  roma-eur:
    name: Agenzia Roma EUR
    kind: agenzia-complessa
    numbers: ["+39 06 5905 1000"]
    province: RM
    parent: roma-centro
    prompt: uffici/roma-eur.wav
  carbonia:
    name: Agenzia di Carbonia
    kind: agenzia-territoriale
    numbers: ["0781 000 000"]
    province: SU
  "roma eur":
    name: Doppione
    kind: agenzia-territoriale
    numbers: ["06 5905 2000"]
    province: XX
regions:
  Trentino-Alto Adige: {}
  Lazio: {gai: {name: ""}}
"#;
    assert_eq!(
        errors(text),
        [
            "1:17: default_office: unknown office `centro`",
            "6:31: number `*51` cannot be put in E.164: write it as +39…, 0039… or an Italian national number (0…, 3…, 80x, 84x, 199)",
            "7:15: unknown province `Rm`: expected an ISTAT sigla such as `RM` or `MI`; did you mean `RM`?",
            "11:15: number `+39 06 5905 1000` (+390659051000) already belongs to office `roma` (line 6, column 38)",
            "13:13: parent: unknown office `roma-centro`",
            "14:13: prompt `uffici/roma-eur.wav`: a prompt id is a relative path of letters, digits, `-`, `_` and `/`, without `.wav` (e.g. `uffici/roma-eur`)",
            "19:15: unknown province `SU`: expected an ISTAT sigla such as `RM` or `MI`; Sud Sardegna was split in 2025: use `CI` (Sulcis Iglesiente) or `VS` (Medio Campidano)",
            "20:3: office id `roma eur`: use letters, digits, `-` and `_`",
            "23:15: number `06 5905 2000` (+390659052000) already belongs to office `roma` (line 6, column 15)",
            "24:15: unknown province `XX`: expected an ISTAT sigla such as `RM` or `MI`",
            "26:3: unknown region `Trentino-Alto Adige`: expected an ISTAT region name such as `Lazio` or `Trentino-Alto Adige/Südtirol`; did you mean `Trentino-Alto Adige/Südtirol`?",
            "27:23: an empty name: leave `name` out to use the usual one",
        ]
    );
}

#[test]
fn diagnostics_render_with_file_line_column_and_snippet() {
    let text = "default_office: roma\noffices:\n  roma:\n    name: Roma\n    kind: direzione-provinciale\n    numbers: [\"06 ABC\"]\n    province: RM\n";
    let list = Directory::from_yaml("directory/inps.yaml", text).unwrap_err();
    assert_eq!(
        render(&list),
        "directory/inps.yaml:6:15: error: number `06 ABC` cannot be put in E.164: write it as +39…, 0039… or an Italian national number (0…, 3…, 80x, 84x, 199)\n   6 |     numbers: [\"06 ABC\"]\n     |               ^"
    );
}

#[test]
fn yaml_errors_name_their_location() {
    let base = "default_office: roma\noffices:\n  roma:\n    name: Roma\n    kind: direzione-provinciale\n    province: RM\n";
    let with = |extra: &str| format!("{base}{extra}");
    let one = |text: &str| {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        e[0].clone()
    };
    // A misspelt key.
    let e = one(&with("    adress: Via Roma 1\n"));
    assert!(e.starts_with("7:5: unknown field `adress`"), "{e}");
    // An unknown kind.
    let e = one(&base.replace("direzione-provinciale", "sede-centrale"));
    assert!(
        e.starts_with("5:11: unknown variant `sede-centrale`"),
        "{e}"
    );
    // The same office twice.
    let e = one(&with(
        "  roma:\n    name: Roma 2\n    kind: agenzia-complessa\n    province: RM\n",
    ));
    assert!(e.starts_with("7:3: duplicate mapping key"), "{e}");
    // A bad schedule value, reported by the schedule itself.
    let e = one(&with(
        "    schedule: {hours: {mon-fri: [\"08:30-25:00\"]}}\n",
    ));
    assert!(e.starts_with("7:34: bad time \"25:00\""), "{e}");
    // A missing field.
    let e = one(&base.replace("    province: RM\n", ""));
    assert!(e.contains("missing field `province`"), "{e}");
    // Not YAML at all.
    let e = one("offices: [\n");
    assert!(!e.is_empty());
    // A key of the regions that is not a section.
    let e = one(&with("regions:\n  Lazio:\n    cric: {pensione: {}}\n"));
    assert!(e.starts_with("9:12: unknown field `pensione`"), "{e}");
}

#[test]
fn parents_must_exist_and_not_loop() {
    let text = r#"default_office: a
offices:
  a: {name: A, kind: direzione-provinciale, province: RM, numbers: ["0611111111"], parent: b}
  b: {name: B, kind: direzione-provinciale, province: RM, numbers: ["0622222222"], parent: c}
  c: {name: C, kind: direzione-provinciale, province: RM, numbers: ["0633333333"], parent: a}
  d: {name: D, kind: agenzia-complessa, province: RM, numbers: ["0644444444"], parent: d}
  e: {name: E, kind: agenzia-complessa, province: RM, numbers: ["0655555555"], parent: a}
"#;
    assert_eq!(
        errors(text),
        [
            "3:3: parents form a loop: a → b → c → a",
            "6:88: office `d` is its own parent",
        ]
    );
}

#[test]
fn warnings_do_not_stop_loading() {
    let text = r#"default_office: cc
offices:
  cc: {name: Contact center, kind: contact-center, province: RM}
  roma: {name: Roma, kind: direzione-provinciale, province: RM, numbers: ["0611111111", "+39 06 1111 1111"]}
  eur: {name: EUR, kind: agenzia-complessa, province: RM, numbers: ["0622222222"], parent: roma}
  ostia: {name: Ostia, kind: agenzia-territoriale, province: RM, numbers: ["0633333333"], parent: eur}
  milano: {name: Milano, kind: agenzia-complessa, province: MI, numbers: ["0244444444"], parent: roma}
  lazio: {name: Direzione regionale Lazio, kind: direzione-regionale, province: RM}
"#;
    assert_eq!(
        warnings(text),
        [
            "4:89: number `+39 06 1111 1111` (+390611111111) is listed twice for this office",
            "6:99: parent `eur` is an agency (agenzia-complessa): an office belongs to a directorate or a metropolitan branch",
            "7:98: parent `roma` is in Lazio but office `milano` is in Lombardia",
            "8:3: office `lazio` has no numbers: no dialled number leads to it",
        ]
    );
}

#[test]
fn a_file_that_cannot_be_read_is_one_error() {
    let list = Directory::load(Path::new("/nonexistent/directory.yaml")).unwrap_err();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].file, "/nonexistent/directory.yaml");
    assert!(list[0].message.starts_with("cannot read: "), "{list:?}");
}

// ------------------------------------------------------------------ the sample directory

fn sample() -> Directory {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("directory/inps.yaml");
    match Directory::load(&path) {
        Ok((dir, warnings)) => {
            assert!(warnings.is_empty(), "{}", render(&warnings));
            dir
        }
        Err(e) => panic!("{}", render(&e)),
    }
}

#[test]
fn sample_directory_loads_without_warnings() {
    let dir = sample();
    let n = dir.offices().count();
    assert!((20..=30).contains(&n), "{n} offices");
    assert_eq!(dir.default_office().unwrap().id, "contact-center");
    assert_eq!(dir.default_office().unwrap().province, "RM");
    let regions: std::collections::HashSet<&str> =
        dir.offices().map(|o| o.region.as_str()).collect();
    assert!(regions.len() >= 10, "{regions:?}");
    for kind in [
        OfficeKind::DirezioneProvinciale,
        OfficeKind::FilialeMetropolitana,
        OfficeKind::AgenziaComplessa,
        OfficeKind::AgenziaTerritoriale,
        OfficeKind::DirezioneRegionale,
    ] {
        assert!(dir.offices().any(|o| o.kind == kind), "no {kind:?}");
    }
}

#[test]
fn sample_offices_are_in_their_provinces_region() {
    let dir = sample();
    for o in dir.offices() {
        let p = province::province(&o.province).unwrap();
        assert_eq!(o.region, p.region, "{}", o.id);
        assert_eq!(dir.region_of(&o.province), Some(o.region.as_str()));
        assert!(!o.numbers.is_empty(), "{}", o.id);
        assert!(o.address.is_some(), "{}", o.id);
        assert!(o.hours.is_some(), "{}", o.id);
        if let Some(parent) = &o.parent {
            assert_eq!(dir.office(parent).unwrap().region, o.region, "{}", o.id);
        }
    }
}

#[test]
fn sample_numbers_resolve_in_every_form() {
    let dir = sample();
    for o in dir.offices() {
        for e164 in &o.numbers {
            let national = e164.strip_prefix("+39").expect("Italian numbers");
            for form in [
                e164.clone(),
                national.to_owned(),
                format!("0039{national}"),
                format!("39{national}"),
                format!("tel:{e164}"),
            ] {
                let r = dir.resolve(&form);
                assert_eq!(r.office_id(), Some(o.id.as_str()), "{form}");
                assert_eq!(&r.number, e164, "{form}");
                assert!(r.known, "{form}");
                assert_eq!(r.province.as_deref(), Some(o.province.as_str()));
                assert_eq!(r.region.as_deref(), Some(o.region.as_str()));
            }
        }
    }
    let r = dir.resolve("06 0100 3000");
    assert_eq!(r.office_id(), Some("roma-eur"));
    let r = dir.resolve("039 010 1000");
    assert_eq!(
        (r.office_id(), r.region.as_deref()),
        (Some("monza"), Some("Lombardia"))
    );
    let r = dir.resolve("+39 0471 010 101");
    assert_eq!(
        (r.office_id(), r.region.as_deref()),
        (Some("bolzano"), Some("Trentino-Alto Adige/Südtirol"))
    );
    let r = dir.resolve("0781010100");
    assert_eq!(
        (r.office_id(), r.province.as_deref(), r.region.as_deref()),
        (Some("carbonia"), Some("CI"), Some("Sardegna"))
    );
}

#[test]
fn sample_unknown_numbers_reach_the_contact_center() {
    let dir = sample();
    for dialled in [
        "0612345678",
        "+41446681800",
        "803164",
        "centralino",
        "",
        "*51",
    ] {
        let r = dir.resolve(dialled);
        assert_eq!(r.office_id(), Some("contact-center"), "{dialled}");
        assert!(!r.known, "{dialled}");
    }
}

#[test]
fn sample_local_holidays() {
    let dir = sample();
    let at = |d: &str| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
    };
    let closed = |id: &str, d: &str| {
        dir.office(id)
            .unwrap()
            .hours
            .as_ref()
            .unwrap()
            .why_closed(at(d))
    };
    // 29 June and 7 December 2026 are Mondays; 19 September 2025 a Friday.
    assert_eq!(closed("roma-eur", "2026-06-29"), Some(ClosedReason::Patron));
    assert_eq!(closed("milano", "2026-06-29"), None);
    assert_eq!(closed("milano", "2026-12-07"), Some(ClosedReason::Patron));
    assert_eq!(closed("roma", "2026-12-07"), None);
    assert_eq!(closed("napoli", "2025-09-19"), Some(ClosedReason::Patron));
    assert_eq!(closed("napoli", "2026-09-18"), None);
    assert_eq!(closed("palermo", "2026-07-15"), Some(ClosedReason::Patron));
    assert_eq!(
        closed("bolzano", "2026-05-25"),
        Some(ClosedReason::ClosedDay)
    );
    assert_eq!(closed("trento", "2026-05-25"), None);
    // The contact centre works on Saturdays and on local holidays.
    assert_eq!(closed("contact-center", "2026-06-27"), None);
    assert_eq!(closed("contact-center", "2026-06-29"), None);
    assert_eq!(
        closed("contact-center", "2026-06-02"),
        Some(ClosedReason::Holiday("Festa della Repubblica"))
    );
}

#[test]
fn sample_destinations() {
    let dir = sample();
    let lazio = dir.resolve("06 0100 3000").region.unwrap();
    assert_eq!(
        dir.destination(&lazio, Section::SostegnoReddito),
        Destination {
            name: "CRIC Lazio — prestazioni a sostegno del reddito".into(),
            address: Some("cric.lazio.sostegno@inps.example".into())
        }
    );
    assert_eq!(
        dir.destination("Lombardia", Section::AssistenzaInformatica)
            .name,
        "GAI Lombardia — Milano"
    );
    assert_eq!(
        dir.destination("Puglia", Section::Pensioni),
        Destination {
            name: "CRIC Puglia — pensioni".into(),
            address: None
        }
    );
}

/// Every office prompt is in the manifest (so `prompts/generate.sh` records it) and
/// recorded; every `uffici/` line of the manifest belongs to an office.
#[test]
fn sample_prompts_are_in_the_manifest_and_recorded() {
    let dir = sample();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/it");
    let manifest = std::fs::read_to_string(root.join("manifest.tsv")).unwrap();
    let listed: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(id, _)| id))
        .filter(|id| id.starts_with("uffici/"))
        .collect();
    let prompts: Vec<&str> = dir.offices().filter_map(|o| o.prompt.as_deref()).collect();
    assert_eq!(
        prompts.len(),
        dir.offices().count(),
        "every office has a prompt"
    );
    for p in &prompts {
        assert!(listed.contains(p), "{p} is not in prompts/it/manifest.tsv");
        assert!(
            root.join(format!("{p}.wav")).is_file(),
            "{p}.wav not recorded"
        );
    }
    for id in &listed {
        assert!(
            prompts.contains(id),
            "{id} in the manifest belongs to no office"
        );
    }
}

#[test]
fn a_broken_file_returns_its_warnings_with_its_errors() {
    let text = r#"default_office: cc
offices:
  cc: {name: Contact center, kind: contact-center, province: RM}
  lazio: {name: Direzione regionale Lazio, kind: direzione-regionale, province: LZ}
"#;
    let list = Directory::from_yaml("t.yaml", text).unwrap_err();
    let summary: Vec<(Severity, u64)> = list.iter().map(|d| (d.severity, d.line)).collect();
    assert_eq!(summary, [(Severity::Warning, 4), (Severity::Error, 4)]);
}
