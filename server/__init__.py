"""The local decomposition server (``layerdecomp serve``) and its wire protocol.

``server.protocol`` is the sans-I/O protocol module (pure standard library) that the server, the Python
client (``layerdecomp.client``) and the Krita plugin share. This package imports nothing on its own, so
importing ``server.protocol`` never pulls in numpy or websockets.
"""
