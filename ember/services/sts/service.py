"""The STS service as the edge sees it (signing name `sts`, query protocol)."""

from __future__ import annotations

from ember.errors import ValidationError
from ember.iam.session_tokens import SessionTokens
from ember.iam_store.base import IamStore
from ember.services.base import Service, load_model
from ember.services.binding import bind_handlers
from ember.services.sts.access import sts_targets
from ember.services.sts.operations import StsOperations


def build_sts_service(iam: IamStore, sessions: SessionTokens) -> Service:
    model = load_model("sts")
    return Service(model=model, handlers=bind_handlers(model, [StsOperations(iam, sessions)], "STS"),
                   validation_error=ValidationError, targets=sts_targets(iam))
