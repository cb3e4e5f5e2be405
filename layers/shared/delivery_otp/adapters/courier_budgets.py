"""A courier's budget of wrong codes, as part of a delivery's write (see `budgets` for the rule).

The budget lives in one item per courier in the deliveries table. It is never read on its own: it is
checked or updated in the same transaction as the delivery's write (one request), and when its
condition fails the transaction hands back the courier's item as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from delivery_otp.model import CourierBudgetModel, courier_key


@dataclass(frozen=True)
class CourierGuard:
    """A courier-item part of the same transaction: a pure check, or an update (with its actions)."""

    courier_id: str
    condition: Any
    actions: Sequence[Any] = ()

    def transaction_item(self) -> dict[str, Any]:
        """This part as one item of a TransactWriteItems, built by pynamodb from the courier's model."""
        request = CourierBudgetModel._get_connection().get_operation_kwargs(
            courier_key(self.courier_id),
            actions=list(self.actions) or None,
            condition=self.condition,
            return_values_on_condition_failure="ALL_OLD",
        )
        return {"Update": request} if self.actions else {"ConditionCheck": request}


def as_it_was(item: dict[str, Any] | None) -> CourierBudgetModel | None:
    """The courier's item a refused transaction handed back (None when the courier had none)."""
    return CourierBudgetModel.from_raw_data(item) if item else None
