//! Tickets and appointments: the recorded question, the id read back twice, slots
//! offered by key, confirmation, and no confirmation when the request was not stored.

use super::*;

const TREE: &str = r#"
start: main
nodes:
  main:
    menu:
      greeting: [menu]
      options:
        "1": ticket
        "2": breve
        "3": appuntamento
        "4": senza-domanda
  ticket:
    ticket: {target: pensioni, max_seconds: 30, fallback: main}
  senza-domanda:
    ticket: {target: assistenza-informatica, record: false, next: main}
  breve:
    ticket: {target: contribuente, prompt: [info], max_seconds: 10}
  appuntamento:
    appointment: {target: agenzia, fallback: main}
"#;

fn call() -> Call {
    let kinds = [HandoffKind::Ticket, HandoffKind::Appointment];
    let mut c = Call::offering(TREE, ctx(monday_morning()), &kinds);
    c.finish_prompt();
    c.actions();
    c
}

fn ids(fragments: Vec<String>) -> String {
    fragments.join(" ")
}

#[test]
fn a_ticket_records_the_question_then_reads_the_id_back_twice() {
    let mut c = call();
    c.key('1');
    assert_eq!(c.actions(), ["play it/ticket/domanda it/sistema/segnale"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["record 30 s"]);
    // Keys other than # are part of nothing here.
    c.key('5');
    assert!(c.actions().is_empty());
    c.key('#');
    assert_eq!(c.actions(), ["stop recording"]);
    c.recorded();
    assert_eq!(c.actions(), ["handoff ticket pensioni priority 0"]);
    c.reply(ServiceReply::TicketOpened {
        id: "LI-2026-000123".into(),
    });
    let code = ids(say_it::digits("LI-2026-000123"));
    assert_eq!(
        c.actions(),
        [format!(
            "play it/ticket/registrata {code} it/sistema/ripeto {code} it/ticket/ricontatto \
             it/sistema/arrivederci"
        )]
    );
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
}

#[test]
fn a_ticket_that_could_not_be_stored_is_never_confirmed() {
    let mut c = call();
    c.key('1');
    c.finish_prompt();
    c.recorded();
    c.actions();
    c.request_failed();
    assert_eq!(c.actions(), ["play it/sistema/non-registrata"]);
    c.finish_prompt();
    // The fallback: back to the menu.
    assert_eq!(c.actions(), ["play it/menu"]);
}

#[test]
fn a_silent_line_still_ends_the_recording_at_the_limit() {
    let mut c = call();
    c.key('2');
    assert_eq!(c.actions(), ["play it/info it/sistema/segnale"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["record 10 s"]);
    // No audio, no `Recorded` from the media side: the menu asks for it at 10 s + margin.
    c.advance(12_000);
    assert_eq!(c.actions(), ["stop recording"]);
    c.recorded();
    assert_eq!(c.actions(), ["handoff ticket contribuente priority 0"]);
}

#[test]
fn a_ticket_without_a_question_goes_on_to_next() {
    let mut c = call();
    c.key('4');
    assert_eq!(
        c.actions(),
        ["handoff ticket assistenza-informatica priority 0"]
    );
    c.reply(ServiceReply::TicketOpened {
        id: "LI-2026-7".into(),
    });
    let code = ids(say_it::digits("LI-2026-7"));
    assert_eq!(
        c.actions(),
        [format!(
            "play it/ticket/registrata {code} it/sistema/ripeto {code} it/ticket/ricontatto"
        )]
    );
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/menu"]);
}

fn slots() -> Vec<NaiveDateTime> {
    vec![
        at(2026, 12, 1, 10, 30, 0),
        at(2026, 12, 1, 11, 0, 0),
        at(2026, 12, 3, 8, 30, 0),
        at(2026, 12, 4, 9, 0, 0),
    ]
}

fn when(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    let mut f = say_it::date(t.date());
    f.extend(say_it::time(t.hour(), t.minute()));
    ids(f)
}

#[test]
fn an_appointment_offers_three_slots_confirms_and_reads_the_booking_back() {
    let mut c = call();
    c.key('3');
    assert_eq!(c.actions(), ["handoff appointment agenzia priority 0"]);
    c.reply(ServiceReply::Slots(slots()));
    let s = slots();
    let offer = format!(
        "play it/appuntamento/disponibili {} it/appuntamento/prema {} {} it/appuntamento/prema {} \
         {} it/appuntamento/prema {} it/appuntamento/riascoltare",
        when(s[0]),
        ids(say_it::cardinal(1)),
        when(s[1]),
        ids(say_it::cardinal(2)),
        when(s[2]),
        ids(say_it::cardinal(3)),
    );
    assert_eq!(c.actions(), std::slice::from_ref(&offer));
    // "martedì primo dicembre alle ore dieci e trenta" is how the first one is spoken.
    assert!(when(s[0]).contains("it/giorno/martedi") || when(s[0]).contains("martedi"));
    // A fourth slot is never offered: 4 is not a choice.
    c.key('4');
    assert_eq!(
        c.actions(),
        [
            "stop",
            &format!("{} {}", "play it/sistema/scelta-non-valida", &offer[5..])
        ]
    );
    c.key('2');
    assert_eq!(
        c.actions(),
        [
            "stop".to_owned(),
            format!(
                "play it/appuntamento/scelto {} it/appuntamento/conferma",
                when(s[1])
            )
        ]
    );
    c.finish_prompt();
    c.key('1');
    assert_eq!(c.actions(), ["book 1"]);
    c.reply(ServiceReply::Booked {
        id: "AP-2026-000045".into(),
        start: s[1],
    });
    let code = ids(say_it::digits("AP-2026-000045"));
    assert_eq!(
        c.actions(),
        [format!(
            "play it/appuntamento/confermato {} it/appuntamento/codice {code} it/sistema/ripeto \
             {code} it/sistema/arrivederci",
            when(s[1])
        )]
    );
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
}

#[test]
fn the_booking_names_the_office_when_the_directory_has_its_prompt() {
    let mut context = ctx(monday_morning());
    context.office_prompt = Some("uffici/roma-eur".into());
    let kinds = [HandoffKind::Appointment];
    let mut c = Call::offering(TREE, context, &kinds);
    c.finish_prompt();
    c.key('3');
    c.reply(ServiceReply::Slots(slots()));
    c.key('1');
    c.finish_prompt();
    c.key('1');
    c.actions();
    c.reply(ServiceReply::Booked {
        id: "AP-1".into(),
        start: slots()[0],
    });
    let played = c.actions().join(" ");
    assert!(
        played.contains(&format!(
            "{} it/appuntamento/presso it/uffici/roma-eur it/appuntamento/codice",
            when(slots()[0])
        )),
        "{played}"
    );
}

#[test]
fn no_free_slot_says_so_and_follows_the_fallback() {
    let mut c = call();
    c.key('3');
    c.actions();
    c.reply(ServiceReply::Slots(Vec::new()));
    assert_eq!(c.actions(), ["play it/appuntamento/nessuno"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/menu"]);
}

#[test]
fn two_goes_back_to_the_list_and_silence_gives_up_after_three_tries() {
    let mut c = call();
    c.key('3');
    c.reply(ServiceReply::Slots(slots()));
    c.key('3');
    c.finish_prompt();
    c.actions();
    c.key('2');
    let replay = c.actions();
    assert!(
        replay
            .last()
            .unwrap()
            .starts_with("play it/appuntamento/disponibili"),
        "{replay:?}"
    );
    c.finish_prompt();
    c.advance(5_000);
    c.finish_prompt();
    c.advance(5_000);
    c.finish_prompt();
    c.actions();
    c.advance(5_000);
    // Third timeout: the fallback (the main menu), no booking.
    let out = c.actions();
    assert_eq!(out, ["play it/menu"], "{out:?}");
    assert!(!c.transcript().iter().any(|l| l.contains("book")));
}

#[test]
fn a_booking_that_could_not_be_stored_is_never_confirmed() {
    let mut c = call();
    c.key('3');
    c.reply(ServiceReply::Slots(slots()));
    c.key('1');
    c.finish_prompt();
    c.key('1');
    c.actions();
    c.request_failed();
    assert_eq!(c.actions(), ["play it/sistema/non-registrata"]);
}

#[test]
fn an_unknown_ticket_section_is_a_load_error() {
    let yaml = "start: t\nnodes:\n  t:\n    ticket: {target: pensione}\n";
    let err = load_str(yaml, "t.yaml", &catalog()).unwrap_err();
    assert!(
        err.iter()
            .any(|d| d.to_string().contains("unknown ticket section `pensione`")),
        "{err:?}"
    );
}
