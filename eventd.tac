"""
eventd as a .tac file: C{twistd -ny eventd.tac}.

For deployments that would rather not rely on twistd's plugin discovery.
The options come from the environment, one variable per server option,
named like it (EVENTD_QUEUE_SIZE for --queue-size):

    EVENTD_LISTEN              endpoint strings, separated by whitespace
    EVENTD_HOST, EVENTD_PORT   as -n and -p
    EVENTD_QUEUE_SIZE, EVENTD_QUEUE_BYTES, EVENTD_WHEN_FULL
    EVENTD_SLOW_CONSUMER_TIMEOUT, EVENTD_HEARTBEAT, EVENTD_READ_TIMEOUT
    EVENTD_MAX_MESSAGE_BYTES, EVENTD_SEND_BUFFER_BYTES, EVENTD_SHUTDOWN_TIMEOUT
    EVENTD_MAX_PUBLISH_SUBJECTS, EVENTD_MAX_PUBLISH_BYTES, EVENTD_MAX_EMIT_RECORDS
    EVENTD_MAX_CALL_NAMES, EVENTD_MAX_PATTERN_SIZE, EVENTD_MAX_PATTERN_INSTRUCTIONS
    EVENTD_MAX_SUBSCRIPTIONS, EVENTD_MAX_TOTAL_SUBSCRIPTIONS
    EVENTD_MAX_CONNECTIONS, EVENTD_MAX_MEMORY_BYTES
    EVENTD_METRICS
    EVENTD_IDENT, EVENTD_IDENT_FILE, EVENTD_USERS, EVENTD_ACL, EVENTD_LOGIN_TIMEOUT
    EVENTD_CLIENT_CA, EVENTD_REQUIRE_CLIENT_CERT (1 or 0), EVENTD_ALLOW_ANONYMOUS (1 or 0)
    EVENTD_REUSE_PORT (1 or 0)

EVENTD_IDENT holds the passphrase itself; with systemd, rather pass it as a
credential (LoadCredential=ident:/etc/eventd/ident) and set
EVENTD_IDENT_FILE=%d/ident, so that it is neither in a unit file nor in
the environment of every process of the service (docs/security.md).
"""

import os

from twisted.application.service import Application

from eventd.server.tap import makeService, options_from_environment

application = Application("eventd")
makeService(options_from_environment(os.environ)).setServiceParent(application)
