"""Sign in with Google and GitHub: the providers (providers.py), the `state` of a sign-in
(state.py), linking a provider's account to a user (linking.py), and the endpoints (views.py)."""
