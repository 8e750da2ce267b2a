"""leaklib: gradient leakage in federated learning, reproduced.

Companion to *Inverting Gradients* (Geiping et al., 2020) and *Towards General Deep Leakage in
Federated Learning* (Geng et al., 2021). Data flows one way:
``data -> models -> fl -> labels -> attack -> metrics -> references``; see README.md.
"""

__version__ = "0.1.0"

from .errors import LeaklibError  # noqa: E402

__all__ = ["LeaklibError", "__version__"]
