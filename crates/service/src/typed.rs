//! The typed side of the request/reply protocol, shared by [`crate::Embedded`] and
//! [`crate::Remote`]: each [`crate::Service`] method is one [`Request`] whose [`Reply`] must be
//! of one kind. The two implementations differ only in how a request travels ([`Transport`]).

use std::future::Future;

use rapport_core::{
    Channel, CustomerId, CustomerRecord, CustomerSummary, Disruption, Interaction, Preference,
};

use crate::api::{
    CompensationRequest, Declaration, DisruptionEntry, Entitlement, FlightGrant, FlightView,
    GrantOutcome, InteractionQuery, ListEntry, NewInteraction, Overview, ServiceResult,
};
use crate::protocol::{Reply, Request};
use crate::unexpected;

/// How a request reaches the engine: in-process ([`crate::Embedded`]) or over the socket
/// ([`crate::Remote`]). The typed operations ([`crate::Operations`] and the others) are
/// written once over it.
pub trait Transport: Sync {
    /// Sends one request and waits for its reply.
    fn send(&self, req: Request) -> impl Future<Output = ServiceResult<Reply>> + Send;
}

pub(crate) async fn search<T: Transport + ?Sized>(
    t: &T,
    query: &str,
    limit: usize,
) -> ServiceResult<Vec<CustomerSummary>> {
    let query = query.to_string();
    match t.send(Request::Search { query, limit }).await? {
        Reply::Summaries(s) => Ok(s),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn open<T: Transport + ?Sized>(
    t: &T,
    customer: CustomerId,
    query: InteractionQuery,
) -> ServiceResult<CustomerRecord> {
    match t.send(Request::Open { customer, query }).await? {
        Reply::Record(r) => Ok(*r),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn interactions<T: Transport + ?Sized>(
    t: &T,
    customer: CustomerId,
    query: InteractionQuery,
) -> ServiceResult<Vec<Interaction>> {
    match t.send(Request::Interactions { customer, query }).await? {
        Reply::Interactions(i) => Ok(i),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn log_interaction<T: Transport + ?Sized>(
    t: &T,
    new: NewInteraction,
) -> ServiceResult<Interaction> {
    match t.send(Request::LogInteraction(new)).await? {
        Reply::Interaction(i) => Ok(*i),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn record_preference<T: Transport + ?Sized>(
    t: &T,
    customer: CustomerId,
    topic: String,
    value: String,
    channel: Channel,
) -> ServiceResult<Preference> {
    let req = Request::RecordPreference {
        customer,
        topic,
        value,
        channel,
    };
    match t.send(req).await? {
        Reply::Preference(p) => Ok(p),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn entitlement<T: Transport + ?Sized>(
    t: &T,
    request: CompensationRequest,
) -> ServiceResult<Entitlement> {
    match t.send(Request::Entitlement(request)).await? {
        Reply::Entitlement(e) => Ok(*e),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn grant_compensation<T: Transport + ?Sized>(
    t: &T,
    request: CompensationRequest,
) -> ServiceResult<GrantOutcome> {
    match t.send(Request::Grant(request)).await? {
        Reply::Grant(g) => Ok(*g),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn disruptions<T: Transport + ?Sized>(
    t: &T,
    customer: CustomerId,
) -> ServiceResult<Vec<DisruptionEntry>> {
    match t.send(Request::Disruptions { customer }).await? {
        Reply::Disruptions(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn flight<T: Transport + ?Sized>(
    t: &T,
    disruption: &str,
) -> ServiceResult<FlightView> {
    let disruption = disruption.to_string();
    match t.send(Request::Flight { disruption }).await? {
        Reply::Flight(f) => Ok(*f),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn grant_flight<T: Transport + ?Sized>(
    t: &T,
    disruption: &str,
    touchpoint: &str,
) -> ServiceResult<Vec<FlightGrant>> {
    let (disruption, touchpoint) = (disruption.to_string(), touchpoint.to_string());
    match t
        .send(Request::GrantFlight {
            disruption,
            touchpoint,
        })
        .await?
    {
        Reply::FlightGrants(g) => Ok(g),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn declare_disruption<T: Transport + ?Sized>(
    t: &T,
    declaration: Declaration,
) -> ServiceResult<Disruption> {
    match t.send(Request::DeclareDisruption(declaration)).await? {
        Reply::Disruption(d) => Ok(*d),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn overview<T: Transport + ?Sized>(t: &T) -> ServiceResult<Overview> {
    match t.send(Request::Overview).await? {
        Reply::Overview(o) => Ok(*o),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn list<T: Transport + ?Sized>(
    t: &T,
    name: &str,
    limit: usize,
) -> ServiceResult<Vec<ListEntry>> {
    let name = name.to_string();
    match t.send(Request::List { name, limit }).await? {
        Reply::List(l) => Ok(l),
        other => Err(unexpected(&other)),
    }
}
