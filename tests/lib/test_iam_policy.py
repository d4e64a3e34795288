import json

from learnlab.lib.iam_policy import trust_allows


def _trust(principal, action="sts:AssumeRole", effect="Allow"):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Principal": principal, "Action": action}],
        }
    )


USER = "arn:aws:iam::111122223333:user/learnlab"
SESSION = "arn:aws:sts::111122223333:assumed-role/admin/me"


def test_it_lets_ec2_assume_a_role_that_trusts_the_ec2_service():
    assert trust_allows(_trust({"Service": "ec2.amazonaws.com"}), service="ec2.amazonaws.com")
    assert not trust_allows(
        _trust({"Service": "lambda.amazonaws.com"}), service="ec2.amazonaws.com"
    )


def test_a_service_principal_never_matches_a_user():
    assert not trust_allows(_trust({"Service": "ec2.amazonaws.com"}), principal_arn=USER)


def test_the_account_root_and_id_match_any_principal_of_that_account():
    for principal in ("arn:aws:iam::111122223333:root", "111122223333"):
        assert trust_allows(_trust({"AWS": principal}), principal_arn=USER)
        assert trust_allows(_trust({"AWS": principal}), principal_arn=SESSION)
    assert not trust_allows(_trust({"AWS": "arn:aws:iam::999999999999:root"}), principal_arn=USER)


def test_a_role_arn_matches_sessions_of_that_role():
    assert trust_allows(
        _trust({"AWS": "arn:aws:iam::111122223333:role/admin"}), principal_arn=SESSION
    )
    assert not trust_allows(
        _trust({"AWS": "arn:aws:iam::111122223333:role/other"}), principal_arn=SESSION
    )


def test_actions_match_as_case_insensitive_globs():
    assert trust_allows(_trust({"AWS": "*"}, action="STS:*"), principal_arn=USER)
    assert not trust_allows(_trust({"AWS": "*"}, action="sts:TagSession"), principal_arn=USER)


def test_an_explicit_deny_wins():
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "Principal": {"AWS": USER}, "Action": "sts:*"},
            ],
        }
    )
    assert not trust_allows(policy, principal_arn=USER)
    assert trust_allows(policy, principal_arn=SESSION)


def test_broken_documents_allow_nothing():
    assert not trust_allows("not json", principal_arn=USER)
    assert not trust_allows("[]", principal_arn=USER)
