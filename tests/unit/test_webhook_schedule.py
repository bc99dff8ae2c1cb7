"""The outgoing webhooks' retry schedule: its setting and the jittered waits it gives."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from crm.integrations.dispatcher import retry_delay
from gateway.settings import Settings


def test_each_failure_waits_its_step_with_jitter_and_the_last_step_repeats() -> None:
    schedule = (5.0, 30.0, 120.0)
    for attempts, step in [(1, 5.0), (2, 30.0), (3, 120.0), (4, 120.0), (50, 120.0)]:
        waits = {retry_delay(schedule, attempts) for _ in range(50)}
        assert all(
            timedelta(seconds=step * 0.8) <= w <= timedelta(seconds=step * 1.2) for w in waits
        )
        assert len(waits) > 1  # jittered, so retries of one outage spread out


def test_the_schedule_setting_is_parsed_and_checked() -> None:
    settings = Settings(_env_file=None, WEBHOOK_OUT_BACKOFF_S="0.5, 2,10")
    assert settings.webhook_out_backoff == (0.5, 2.0, 10.0)
    assert Settings(_env_file=None).webhook_out_backoff == (5, 30, 120, 600, 1800, 3600)
    for bad in ("", "5,soon", "5,0", "-1"):
        with pytest.raises(ValidationError, match="WEBHOOK_OUT_BACKOFF_S"):
            Settings(_env_file=None, WEBHOOK_OUT_BACKOFF_S=bad)
