//! Tickets and appointments for calls in the SIP task: builds plugin requests from a
//! call's context (dialled office, region, menu path, collected digits, recorded
//! question), hands them to the plugin runtime, and routes its replies back to the
//! call's menu. Nothing here waits: replies arrive as `PluginReply` inputs.

use super::{Command, Daemon, Logic};
use crate::driver::admin::{ApiError, ApiTicket};
use crate::ivr::interp::ServiceReply;
use crate::ivr::tree::HandoffKind;
use crate::plugin::service::PluginReply;
use crate::plugin::{BookingRequest, CallInfo, Origin, Section, SlotQuery, TicketRequest};
use crate::sip::endpoint::CallId;

use std::time::Instant;

/// Where the console's ticket request is answered.
pub(super) type ApiReply = tokio::sync::oneshot::Sender<Result<crate::plugin::Ticket, ApiError>>;

impl Daemon {
    /// The menu asks for a ticket in `section` (the question, if any, is recorded).
    pub(super) fn open_ticket(&mut self, now: Instant, call: CallId, section: &str) {
        let (Some(plugins), Some(section)) = (self.plugins.as_ref(), Section::from_name(section))
        else {
            return self.service_unavailable(now, call);
        };
        let Some(info) = self.call_info(call) else {
            return;
        };
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        let question = ctx.question.take().filter(|pcm| !pcm.is_empty());
        let origin = ctx.origin.clone();
        let question_ms = question.as_ref().map_or(0, |q| q.len() / 8);
        let request = self.ticket_request(section, info, question, origin);
        tracing::info!(
            call = call.0,
            section = section.name(),
            destination = %request.destination,
            question_ms,
            "opening a ticket"
        );
        plugins.open_ticket(call.0, request);
    }

    /// A ticket for the call `info` describes, addressed to its region's CRIC section
    /// (or GAI) from the directory in service.
    fn ticket_request(
        &self,
        section: Section,
        info: CallInfo,
        question: Option<Vec<i16>>,
        origin: Origin,
    ) -> TicketRequest {
        let region = info.region.clone().unwrap_or_default();
        TicketRequest {
            section,
            destination: self.offices.current().destination(&region, section).name,
            call: info,
            question,
            origin,
            notes: None,
            idempotency_key: None,
        }
    }

    /// Asks the caller-lookup hook, when there is one, about a new call; the answer adds
    /// to what tickets, bookings and the operator's screen carry.
    pub(super) fn look_up_caller(&mut self, call: CallId) {
        let Some(plugins) = self.plugins.as_ref().filter(|p| p.has_lookup()) else {
            return;
        };
        if let Some(info) = self.call_info(call) {
            plugins.lookup(call.0, info);
        }
    }

    /// The caller hung up while speaking a ticket's question: the ticket is opened with
    /// what was said (nothing to open when less than a second was said). The caller
    /// hears no id; the office has their number to call back.
    pub(super) fn open_orphan_ticket(
        &mut self,
        call: CallId,
        section: &str,
        info: CallInfo,
        origin: Origin,
        pcm: Vec<i16>,
    ) {
        let (Some(plugins), Some(section)) = (self.plugins.as_ref(), Section::from_name(section))
        else {
            return;
        };
        if pcm.len() < 8000 {
            tracing::info!(call = call.0, "hung up before saying a question: no ticket");
            return;
        }
        tracing::info!(
            call = call.0,
            section = section.name(),
            question_ms = pcm.len() / 8,
            "caller hung up during the question: opening the ticket"
        );
        plugins.open_ticket(
            call.0,
            self.ticket_request(section, info, Some(pcm), origin),
        );
    }

    /// The menu asks for free slots of `service` at the caller's agency.
    pub(super) fn find_slots(&mut self, now: Instant, call: CallId, service: &str) {
        let Some(plugins) = self.plugins.as_ref() else {
            return self.service_unavailable(now, call);
        };
        let Some(info) = self.call_info(call) else {
            return;
        };
        let hours = info
            .office
            .as_deref()
            .and_then(|id| self.offices.current().office(id))
            .and_then(|o| o.hours.clone());
        plugins.free_slots(
            call.0,
            SlotQuery {
                office: info.office.clone(),
                service: service.to_owned(),
                after: super::italian_wall_clock(),
                limit: crate::ivr::interp::MAX_SLOTS,
                call: info,
                hours,
            },
        );
    }

    /// The caller confirmed the offered slot with index `slot`.
    pub(super) fn book_slot(&mut self, now: Instant, call: CallId, slot: usize) {
        let (Some(plugins), Some(info)) = (self.plugins.as_ref(), self.call_info(call)) else {
            return self.request_failed(now, call);
        };
        let Some(ctx) = self.calls.get(&call) else {
            return;
        };
        let (Some(chosen), Some(service)) = (ctx.slots.get(slot), ctx.service.clone()) else {
            return self.request_failed(now, call);
        };
        plugins.book(
            call.0,
            BookingRequest {
                service,
                office: info.office.clone(),
                slot: chosen.clone(),
                call: info,
                origin: ctx.origin.clone(),
                idempotency_key: None,
            },
        );
    }

    /// A reply of the plugin runtime, for the call tagged in it (which may be gone: the
    /// item is stored all the same, the caller just does not hear it).
    pub(super) fn plugin_reply(&mut self, reply: PluginReply) {
        let now = Instant::now();
        match reply {
            PluginReply::TicketStored { tag, result } if self.api_tickets.contains_key(&tag) => {
                match &result {
                    Ok(t) => {
                        self.metrics.tickets_stored += 1;
                        tracing::info!(id = %t.id, "ticket stored (console)");
                    }
                    Err(e) => {
                        self.metrics.tickets_not_stored += 1;
                        tracing::error!(%e, "ticket NOT stored (console): the console is told");
                    }
                }
                if let Some(reply) = self.api_tickets.remove(&tag) {
                    let _ = reply.send(result.map_err(|e| {
                        ApiError::new(503, format!("the ticket could not be stored: {e}"))
                    }));
                }
            }
            PluginReply::TicketStored { tag, result } => {
                let call = CallId(tag);
                match result {
                    Ok(t) => {
                        self.metrics.tickets_stored += 1;
                        tracing::info!(call = tag, id = %t.id, "ticket stored");
                        self.reply_to_menu(now, call, ServiceReply::TicketOpened { id: t.id });
                    }
                    Err(e) => {
                        self.metrics.tickets_not_stored += 1;
                        tracing::error!(call = tag, %e, "ticket NOT stored: the caller is told");
                        self.request_failed(now, call);
                    }
                }
            }
            PluginReply::Slots { tag, result } => {
                let call = CallId(tag);
                match result {
                    Ok(slots) => {
                        let starts: Vec<_> = slots.iter().map(|s| s.start).collect();
                        let offered: Vec<String> = starts
                            .iter()
                            .take(crate::ivr::interp::MAX_SLOTS)
                            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
                            .collect();
                        tracing::info!(call = tag, slots = %offered.join(" "), "slots offered");
                        if let Some(ctx) = self.calls.get_mut(&call) {
                            ctx.slots = slots;
                        }
                        self.reply_to_menu(now, call, ServiceReply::Slots(starts));
                    }
                    Err(e) => {
                        tracing::warn!(call = tag, %e, "no appointment slots from the back end");
                        self.service_unavailable(now, call);
                    }
                }
            }
            PluginReply::Booked { tag, result } => {
                let call = CallId(tag);
                match result {
                    Ok(b) => {
                        self.metrics.bookings_stored += 1;
                        tracing::info!(call = tag, id = %b.id, "booking stored");
                        let reply = ServiceReply::Booked {
                            id: b.id,
                            start: b.slot.start,
                        };
                        self.reply_to_menu(now, call, reply);
                    }
                    Err(e) => {
                        self.metrics.bookings_not_stored += 1;
                        tracing::error!(call = tag, %e, "booking NOT stored: the caller is told");
                        self.request_failed(now, call);
                    }
                }
            }
            PluginReply::CallerLooked { tag, result } => match result {
                Ok(found) => {
                    if let Some(ctx) = self.calls.get_mut(&CallId(tag)) {
                        ctx.caller_vars.extend(found.vars);
                    }
                }
                Err(e) => tracing::warn!(call = tag, %e, "caller lookup failed"),
            },
        }
    }

    /// Whether a REFER from the operator leg `leg` names a ticket or appointment node of
    /// its caller's menu (`sip:ticket-pensioni@…`): such transfers go to the menu, not to
    /// a queue.
    pub(super) fn is_service_node(&self, leg: CallId, target: &str) -> bool {
        let Some(caller) = self.desk.as_ref().and_then(|d| d.caller_of(leg)) else {
            return false;
        };
        let Some(Some(Logic::Menu(i))) = self.calls.get(&caller).map(|c| c.logic.as_ref()) else {
            return false;
        };
        let tree = i.tree();
        tree.find(target).is_some_and(|n| {
            matches!(
                tree.node(n),
                crate::ivr::tree::Node::Handoff {
                    kind: HandoffKind::Ticket | HandoffKind::Appointment,
                    ..
                }
            )
        })
    }

    /// The operator transferred their caller to a ticket or appointment node: the caller
    /// leaves the bridge and the menu takes over there (records the question, reads the
    /// id back); the request names the operator.
    pub(super) fn transfer_to_service(&mut self, now: Instant, leg: CallId, node: &str) {
        let released = self.desk.as_mut().and_then(|d| d.release_to_menu(now, leg));
        let Some((caller, op)) = released else {
            return self.endpoint.refer_result(now, leg, 404);
        };
        tracing::info!(call = caller.0, operator = %op.0, %node, "caller transferred to the menu");
        self.endpoint.refer_result(now, leg, 200);
        let Some(ctx) = self.calls.get_mut(&caller) else {
            return;
        };
        self.workers[ctx.worker].send(Command::Unbridge { call: caller });
        ctx.origin = Origin::Transfer { operator: op.0 };
        ctx.hold = None;
        ctx.queued = super::Queued::No;
        if let Some(i) = ctx.logic.as_mut().and_then(Logic::menu_mut) {
            i.resume_at(now, node);
            self.run_logic(now, caller);
        }
    }

    /// The operator console asks for a ticket (`POST /api/tickets`): for the caller the
    /// operator is talking to, or for the caller and office the request names.
    pub(super) fn api_ticket(
        &mut self,
        t: ApiTicket,
        idempotency_key: Option<String>,
        reply: ApiReply,
    ) {
        let Some(section) = Section::from_name(&t.section) else {
            let e = format!("unknown section `{}`", t.section);
            let _ = reply.send(Err(ApiError::new(422, e)));
            return;
        };
        let current = self
            .desk
            .as_ref()
            .and_then(|d| d.connected_caller(&crate::queue::OperatorId(t.operator.clone())));
        let info = match (
            current.and_then(|c| self.call_info(c)),
            &t.caller,
            &t.dialled,
        ) {
            (Some(info), ..) => info,
            (None, Some(caller), Some(dialled)) => {
                let resolved = self.offices.current().resolve(dialled);
                CallInfo {
                    caller: e164_or_as_is(caller),
                    dialled: resolved.number.clone(),
                    office: resolved.office.as_ref().map(|o| o.id.clone()),
                    province: resolved.province.clone(),
                    region: resolved.region.clone(),
                    ..CallInfo::default()
                }
            }
            _ => {
                let e = "the operator has no caller: give `caller` and `dialled`";
                let _ = reply.send(Err(ApiError::new(422, e)));
                return;
            }
        };
        let Some(plugins) = self.plugins.as_ref() else {
            let _ = reply.send(Err(ApiError::new(503, "tickets are not enabled")));
            return;
        };
        let tag = self.next_api_tag;
        self.next_api_tag += 1;
        self.api_tickets.insert(tag, reply);
        tracing::info!(operator = %t.operator, section = section.name(), "console opens a ticket");
        let origin = Origin::Api {
            operator: t.operator,
        };
        let request = TicketRequest {
            notes: t.notes,
            idempotency_key,
            ..self.ticket_request(section, info, None, origin)
        };
        plugins.open_ticket(tag, request);
    }

    fn reply_to_menu(&mut self, now: Instant, call: CallId, reply: ServiceReply) {
        if let Some(i) = self.logic(call).and_then(Logic::menu_mut) {
            i.service_reply(now, reply);
            self.run_logic(now, call);
        }
    }

    fn request_failed(&mut self, now: Instant, call: CallId) {
        if let Some(i) = self.logic(call).and_then(Logic::menu_mut) {
            i.request_failed(now);
            self.run_logic(now, call);
        }
    }

    fn service_unavailable(&mut self, now: Instant, call: CallId) {
        if let Some(i) = self.logic(call).and_then(Logic::menu_mut) {
            i.handoff_failed(now);
            self.run_logic(now, call);
        }
    }

    /// What a request carries about its call.
    pub(super) fn call_info(&self, call: CallId) -> Option<CallInfo> {
        let ctx = self.calls.get(&call)?;
        let resolved = self.offices.current().resolve(&ctx.dialled);
        let mut info = CallInfo {
            caller: e164_or_as_is(&ctx.caller),
            dialled: resolved.number.clone(),
            office: resolved.office.as_ref().map(|o| o.id.clone()),
            province: resolved.province.clone(),
            region: resolved.region.clone(),
            path: Vec::new(),
            vars: ctx.caller_vars.clone(),
        };
        if let Some(Logic::Menu(i)) = &ctx.logic {
            let tree = i.tree();
            info.path = i
                .path()
                .iter()
                .map(|s| format!("{}{}", tree.id(s.node), super::keys_suffix(&s.keys)))
                .collect();
            info.vars
                .extend(i.vars().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(info)
    }
}

/// A number as the back office wants it: E.164 when it can be normalised (`0612345678`,
/// `333 123 4567`), else as written (an anonymous or alphanumeric caller).
fn e164_or_as_is(number: &str) -> String {
    crate::directory::normalise_e164(number).unwrap_or_else(|| number.to_owned())
}
