"""The IAM service as the edge sees it (signing name `iam`, query protocol)."""

from __future__ import annotations

from ember.clock import Clock
from ember.errors import ValidationError
from ember.iam.access_keys import new_long_term_key
from ember.iam_store.base import IamStore
from ember.services.authorization import Authorizer
from ember.services.base import Service, load_model
from ember.services.binding import bind_handlers
from ember.services.iam.access import iam_targets
from ember.services.iam.identities import IdentityOperations
from ember.services.iam.policies import PolicyOperations, SimulationOperations


def build_iam_service(store: IamStore, clock: Clock, authorizer: Authorizer) -> Service:
    model = load_model("iam")
    groups = [IdentityOperations(store, clock, new_long_term_key), PolicyOperations(store, clock),
              SimulationOperations(store, authorizer)]
    # IAM answers constraint failures with ValidationError, as AWS's query services do.
    return Service(model=model, handlers=bind_handlers(model, groups, "IAM"), validation_error=ValidationError,
                   targets=iam_targets(store))
