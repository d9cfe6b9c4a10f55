"""An OpenFeature provider over ``FlagClient``: evaluate with the standard SDK client.

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    api.set_provider_and_wait(GpuTdaProvider(FlagClient.from_url(url)), "gpu-tda")
    client = api.get_client("gpu-tda")
    client.get_boolean_value("gpu-compute", False, EvaluationContext(targeting_key="s-7"))
    client.get_string_value("ab-test", "control", EvaluationContext(targeting_key="s-7"))

Boolean flags resolve to on/off (with the variant, if any, in ``details.variant``); string
flags resolve to the variant name. ``targeting_key`` is the stream id; ``attributes`` feed the
``attributes`` strategy. A missing flag yields the default with ``FLAG_NOT_FOUND``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata

from gpu_tda.flags.client import FlagClient
from gpu_tda.flags.evaluate import Reason
from gpu_tda.flags.model import Strategy

_REASONS = {
    Reason.DISABLED: OFReason.DISABLED,
    Reason.ALL: OFReason.STATIC,
    Reason.MATCH: OFReason.TARGETING_MATCH,
    Reason.NO_MATCH: OFReason.DEFAULT,
    Reason.MISSING: OFReason.ERROR,
    Reason.ERROR: OFReason.ERROR,
}


class GpuTdaProvider(AbstractProvider):
    """OpenFeature provider backed by the gpu-tda Redis flag store.

    ``initialize`` starts the client's store; ``shutdown`` stops it when the client owns it.
    """

    def __init__(self, client: FlagClient) -> None:
        super().__init__()
        self.client = client

    def get_metadata(self) -> Metadata:
        return Metadata(name="gpu-tda-redis")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.client.start()

    def shutdown(self) -> None:
        self.client.stop()

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, want_variant=False)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, want_variant=True)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return _mismatch(default_value, "integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return _mismatch(default_value, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        return _mismatch(default_value, "object")

    def _resolve(
        self, flag_key: str, default: Any, ctx: EvaluationContext | None, *, want_variant: bool
    ) -> FlagResolutionDetails[Any]:
        flag = self.client.store.get(flag_key)
        if flag is None:
            return FlagResolutionDetails(
                value=default,
                reason=OFReason.ERROR,
                error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"no flag {flag_key!r}",
            )
        if want_variant and not flag.variants:
            return _mismatch(default, "string (the flag has no variants)")
        key = ctx.targeting_key if ctx is not None else None
        if not key and (flag.variants or flag.strategy in _KEYED):
            return FlagResolutionDetails(
                value=default,
                reason=OFReason.ERROR,
                error_code=ErrorCode.TARGETING_KEY_MISSING,
                error_message=f"flag {flag_key!r} needs a targeting_key (the stream id)",
            )
        attributes = ctx.attributes if ctx is not None else {}
        result = self.client.evaluate(flag_key, key or "", attributes)
        if result.reason is Reason.ERROR:
            return FlagResolutionDetails(
                value=default,
                reason=OFReason.ERROR,
                error_code=ErrorCode.GENERAL,
                error_message=f"evaluating {flag_key!r} failed (see logs)",
            )
        if want_variant:
            value = result.variant if result.variant is not None else default
        else:
            value = result.enabled
        return FlagResolutionDetails(
            value=value,
            variant=result.variant,
            reason=_REASONS[result.reason],
            flag_metadata={"version": flag.version, "strategy": flag.strategy.value},
        )


_KEYED = frozenset({Strategy.PERCENTAGE, Strategy.USER_LIST, Strategy.GRADUAL})


def _mismatch(default: Any, kind: str) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(
        value=default,
        reason=OFReason.ERROR,
        error_code=ErrorCode.TYPE_MISMATCH,
        error_message=f"gpu-tda flags are boolean with optional string variants, not {kind}",
    )
