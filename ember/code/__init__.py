"""Function code on the host: deployment zips checked and unpacked (`package`), layers merged
into one /opt folder (`merge`), and zips and trees nothing uses any more deleted (`collector`).

It sits below both the Lambda control plane, which stores code, and the invoke path, which
runs it, so neither has to import the other for it.
"""
