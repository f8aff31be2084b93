"""`make review`: a reviewer's report of a synthesized cloud assembly (and of a change against a base ref).

Everything is read from `cdk.out` (templates, manifests, metadata), never from the source, so the report
shows what will be deployed, including what libraries and aspects added.
"""
