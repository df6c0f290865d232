"""Edit directions in W, fitted on the generator's own samples read by classifiers
(`from_samples`): conditional, colour held fixed, with their attribute models; or, for age and
gender, along a label-conditioned generator's own labels (`from_labels`).

May import the server's fitting and the networks, ``data``, ``gan`` and ``classify``.
"""
