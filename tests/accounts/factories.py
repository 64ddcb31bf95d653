from datetime import timedelta

import factory
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from landed.accounts import sign_ins
from landed.accounts.models import Account, SignIn, User

PASSWORD = "a-long-and-unusual-passphrase"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    account = factory.SubFactory(AccountFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password(PASSWORD)


def jwt_for(user: User, *, ago: timedelta = timedelta(0), sign_in: SignIn | None = None) -> str:
    """A JWT of `user` issued `ago`, belonging to `sign_in` (a new session sign-in if None)."""
    sign_in = sign_in or sign_ins.sign_in_create(user=user)
    token = AccessToken.for_user(user)
    token[sign_ins.SIGN_IN_CLAIM] = str(sign_in.id)
    issued = timezone.now() - ago
    token.set_iat(at_time=issued)
    token.set_exp(from_time=issued)
    return str(token)
