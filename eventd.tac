"""
eventd as a .tac file: C{twistd -ny eventd.tac}.

For deployments that would rather not rely on twistd's plugin discovery.
The options come from the environment, one variable per server option:

    EVENTD_LISTEN              endpoint strings, separated by whitespace
    EVENTD_HOST, EVENTD_PORT   as -n and -p
    EVENTD_QUEUE_SIZE          as --queue-size
    EVENTD_WHEN_FULL           as --when-full (block or drop)
    EVENTD_MAX_MESSAGE_BYTES   as --max-message-bytes
    EVENTD_SEND_BUFFER_BYTES   as --send-buffer-bytes
    EVENTD_SHUTDOWN_TIMEOUT    as --shutdown-timeout
    EVENTD_METRICS             as --metrics
"""

import os

from twisted.application.service import Application

from eventd.server.tap import makeService, options_from_environment

application = Application("eventd")
makeService(options_from_environment(os.environ)).setServiceParent(application)
