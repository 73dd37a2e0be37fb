//! The Italian provinces and their regions (ISTAT list of supra-municipal units in force
//! from 1 January 2026, embedded from `province.csv`): sigla → name → region. A regional
//! CRIC or GAI is chosen by the region of the office's province.

use std::sync::LazyLock;

/// One province, metropolitan city or free municipal consortium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Province {
    /// The two-letter code (`RM`), as on number plates.
    pub sigla: &'static str,
    /// ISTAT's official name (`Roma`, `Bolzano/Bozen`).
    pub name: &'static str,
    /// ISTAT's official region name (`Lazio`, `Trentino-Alto Adige/Südtirol`).
    pub region: &'static str,
}

/// `sigla,provincia,regione`, one line per province, with a header line.
const CSV: &str = include_str!("province.csv");

static PROVINCES: LazyLock<Vec<Province>> = LazyLock::new(|| {
    CSV.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split(',').map(str::trim);
            let mut next = || fields.next().filter(|f| !f.is_empty());
            let (Some(sigla), Some(name), Some(region)) = (next(), next(), next()) else {
                panic!("province.csv: malformed line {line:?}");
            };
            Province {
                sigla,
                name,
                region,
            }
        })
        .collect()
});

static REGIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut regions: Vec<&'static str> = Vec::new();
    for p in PROVINCES.iter() {
        if !regions.contains(&p.region) {
            regions.push(p.region);
        }
    }
    regions
});

/// Every province, in ISTAT order (north to south, island last).
pub fn provinces() -> &'static [Province] {
    &PROVINCES
}

/// The province with this sigla (exact, upper case: `RM`).
pub fn province(sigla: &str) -> Option<&'static Province> {
    PROVINCES.iter().find(|p| p.sigla == sigla)
}

/// The 20 regions, by ISTAT name, in the order of the list.
pub fn regions() -> &'static [&'static str] {
    &REGIONS
}

/// The ISTAT name of a region written exactly so.
pub fn region(name: &str) -> Option<&'static str> {
    REGIONS.iter().copied().find(|r| *r == name)
}

/// A hint for a region name that is not ISTAT's: the same name in another case, or the
/// ISTAT name it begins (`Trentino-Alto Adige` → `Trentino-Alto Adige/Südtirol`).
pub fn region_hint(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_lowercase();
    if lower.is_empty() {
        return None;
    }
    let fold = |s: &str| s.to_lowercase().replace(['-', ' '], "");
    REGIONS.iter().copied().find(|r| {
        let r_lower = r.to_lowercase();
        r_lower == lower
            || r_lower.starts_with(&lower)
            || r_lower.split('/').any(|part| fold(part) == fold(&lower))
    })
}

/// A hint for a sigla that is not in the list: the same in upper case, or the codes that
/// replaced a retired one.
pub fn sigla_hint(sigla: &str) -> Option<String> {
    let upper = sigla.trim().to_uppercase();
    if upper != sigla && province(&upper).is_some() {
        return Some(format!("did you mean `{upper}`?"));
    }
    let hint = match upper.as_str() {
        "SU" => {
            "Sud Sardegna was split in 2025: use `CI` (Sulcis Iglesiente) or `VS` (Medio Campidano)"
        }
        "FO" => "Forlì-Cesena is `FC`",
        "PS" => "Pesaro e Urbino is `PU`",
        _ => return None,
    };
    Some(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_istat_list_has_110_provinces_in_20_regions() {
        assert_eq!(provinces().len(), 110);
        assert_eq!(regions().len(), 20);
        let siglas: HashSet<&str> = provinces().iter().map(|p| p.sigla).collect();
        assert_eq!(siglas.len(), 110, "every sigla once");
        assert!(
            provinces()
                .iter()
                .all(|p| p.sigla.len() == 2 && p.sigla.bytes().all(|b| b.is_ascii_uppercase()))
        );
        let names: HashSet<&str> = provinces().iter().map(|p| p.name).collect();
        assert_eq!(names.len(), 110, "every name once");
    }

    #[test]
    fn provinces_per_region() {
        let count = |r: &str| provinces().iter().filter(|p| p.region == r).count();
        assert_eq!(count("Lombardia"), 12);
        assert_eq!(count("Toscana"), 10);
        assert_eq!(count("Sardegna"), 8);
        assert_eq!(count("Lazio"), 5);
        assert_eq!(count("Valle d'Aosta/Vallée d'Aoste"), 1);
        assert_eq!(count("Molise"), 2);
    }

    #[test]
    fn sigla_to_name_and_region() {
        let p = province("RM").unwrap();
        assert_eq!((p.name, p.region), ("Roma", "Lazio"));
        let p = province("BZ").unwrap();
        assert_eq!(
            (p.name, p.region),
            ("Bolzano/Bozen", "Trentino-Alto Adige/Südtirol")
        );
        assert_eq!(
            province("TN").unwrap().region,
            "Trentino-Alto Adige/Südtirol"
        );
        assert_eq!(
            province("AO").unwrap().region,
            "Valle d'Aosta/Vallée d'Aoste"
        );
        assert_eq!(province("TS").unwrap().region, "Friuli-Venezia Giulia");
        assert_eq!(province("FC").unwrap().region, "Emilia-Romagna");
        assert_eq!(province("BT").unwrap().name, "Barletta-Andria-Trani");
        assert_eq!(province("MB").unwrap().region, "Lombardia");
        assert_eq!(province("NA").unwrap().region, "Campania");
        assert_eq!(province("PA").unwrap().region, "Sicilia");
    }

    #[test]
    fn sardinia_after_the_2025_reorganisation() {
        assert_eq!(province("CI").unwrap().name, "Sulcis Iglesiente");
        assert_eq!(province("VS").unwrap().name, "Medio Campidano");
        assert_eq!(province("OT").unwrap().name, "Gallura Nord-Est Sardegna");
        assert_eq!(province("OG").unwrap().name, "Ogliastra");
        assert_eq!(province("SU"), None, "Sud Sardegna no longer exists");
        assert!(sigla_hint("SU").unwrap().contains("`CI`"));
    }

    #[test]
    fn lookups_are_exact_and_hints_help() {
        assert_eq!(province("rm"), None);
        assert_eq!(sigla_hint("rm").as_deref(), Some("did you mean `RM`?"));
        assert_eq!(sigla_hint("XX"), None);
        assert_eq!(region("Lazio"), Some("Lazio"));
        assert_eq!(region("lazio"), None);
        assert_eq!(region_hint("lazio"), Some("Lazio"));
        assert_eq!(
            region_hint("Trentino-Alto Adige"),
            Some("Trentino-Alto Adige/Südtirol")
        );
        assert_eq!(
            region_hint("Südtirol"),
            Some("Trentino-Alto Adige/Südtirol")
        );
        assert_eq!(
            region_hint("Valle d'Aosta"),
            Some("Valle d'Aosta/Vallée d'Aoste")
        );
        assert_eq!(
            region_hint("Friuli Venezia Giulia"),
            Some("Friuli-Venezia Giulia")
        );
        assert_eq!(region_hint("Emilia Romagna"), Some("Emilia-Romagna"));
        assert_eq!(region_hint("Padania"), None);
        assert_eq!(region_hint(""), None);
    }
}
