"""Alerts: what broke and why it matters, delivered once through Apprise channels.

``redact``    secrets (channel URLs, tokens, keys) never leave in any text we emit
``channels``  ``MIRROR_ALERT_URLS`` (Apprise URLs) + always ``$MIRROR_HOME/alerts.jsonl``
``messages``  the message of a check evaluation or a failed run
``state``     de-duplication: ``$MIRROR_HOME/alerts_state.json`` (fingerprint per check)
``sensors``   run-failure sensor (blocking checks), check-evaluation sensor (warn, resolutions),
              and :func:`notify_run` for ``mirror run`` (no daemon there)
"""
