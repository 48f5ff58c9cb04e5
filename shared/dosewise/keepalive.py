"""Keep-alive timing shared by our HTTP servers and clients.

A client that reuses an idle connection at the moment the server closes it gets a reset (httpx: ReadError) for a request the
server never read. With uvicorn's and httpx's defaults both at 5 s that race is open: bench/serving.py saw 1 request in about
500 fail so at 100–120 req/s. The rule (as for any proxy chain): a client drops idle connections well before its server does.
"""

SERVER_KEEP_ALIVE_S = 75  # uvicorn --timeout-keep-alive for the gateway and inference (nginx's default keepalive_timeout)
CLIENT_KEEPALIVE_EXPIRY_S = 30.0  # our own clients (gateway → inference) close idle connections before the server would
