//! The approvals the service knows: pending, approved (with the minted token), denied or
//! expired. Bounded, in memory: a restart forgets pending requests, which then fail closed
//! (the agent's poll answers 404 and it must ask again).

use meshguard_core::approval::{ApprovalRequest, ApprovalState, ApprovalStatus};
use std::collections::BTreeMap;

/// Most approvals kept; the oldest decided ones are dropped first, and a full store of
/// pending ones refuses new requests (the gate then denies: fail closed).
pub const MAX_ENTRIES: usize = 1000;

/// One approval request and its outcome.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub request: ApprovalRequest,
    pub created: u64,
    pub status: ApprovalState,
    pub approver: Option<String>,
    pub token: Option<String>,
    pub decided: Option<u64>,
}

impl Entry {
    /// What a poll returns.
    pub fn status(&self) -> ApprovalStatus {
        ApprovalStatus {
            approval_id: self.id.clone(),
            status: self.status,
            approver: self.approver.clone(),
            approval_token: self.token.clone(),
        }
    }
}

/// Why a decision could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    AlreadyDecided(ApprovalState),
    Full,
}

/// All approvals, by id (ids are random, so the order is arbitrary; `created` sorts them).
#[derive(Debug, Default)]
pub struct Store {
    entries: BTreeMap<String, Entry>,
}

impl Store {
    /// Add a pending request.
    pub fn insert(&mut self, entry: Entry) -> Result<(), StoreError> {
        if self.entries.len() >= MAX_ENTRIES {
            let oldest_decided = self
                .entries
                .values()
                .filter(|e| e.status != ApprovalState::Pending)
                .min_by_key(|e| e.created)
                .map(|e| e.id.clone());
            match oldest_decided {
                Some(id) => {
                    self.entries.remove(&id);
                }
                None => return Err(StoreError::Full),
            }
        }
        self.entries.insert(entry.id.clone(), entry);
        Ok(())
    }

    /// Expire pending requests older than `ttl` seconds.
    pub fn expire(&mut self, now: u64, ttl: u64) {
        for e in self.entries.values_mut() {
            if e.status == ApprovalState::Pending && now.saturating_sub(e.created) > ttl {
                e.status = ApprovalState::Expired;
                e.decided = Some(now);
            }
        }
    }

    /// One approval.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// A pending approval, to decide on.
    pub fn pending_mut(&mut self, id: &str) -> Result<&mut Entry, StoreError> {
        let e = self.entries.get_mut(id).ok_or(StoreError::NotFound)?;
        if e.status != ApprovalState::Pending {
            return Err(StoreError::AlreadyDecided(e.status));
        }
        Ok(e)
    }

    /// Every approval, newest first.
    pub fn newest_first(&self) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self.entries.values().collect();
        all.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        all
    }
}
