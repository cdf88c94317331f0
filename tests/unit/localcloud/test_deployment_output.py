"""Stack outputs by name: an exact name wins, a fragment must name one value, ambiguity is refused."""

from __future__ import annotations

import pytest

from localcloud.provision import Deployment, ProvisionedStack


@pytest.fixture()
def deployment() -> Deployment:
    def stack(name: str, outputs: dict[str, str]) -> ProvisionedStack:
        return ProvisionedStack(name=name, resources={}, outputs=outputs, exports={})

    return Deployment(
        stacks=[
            stack("App-Model", {"ModelBucketName": "models"}),
            stack("App-Shadow", {"DeadLetterQueueUrl": "shadow-dlq", "RecorderDeadLetterQueueUrl": "r-dlq"}),
            stack("App-Serving", {"FunctionName": "fn", "ModelVersion": "m-1", "ModelBucketName": "models"}),
            stack("App-Retraining", {"FunctionName": "retrain-fn"}),
        ]
    )


def test_an_exact_name_wins_over_longer_names_that_contain_it(deployment: Deployment) -> None:
    assert deployment.output("DeadLetterQueueUrl") == "shadow-dlq"
    assert deployment.output("RecorderDeadLetterQueueUrl") == "r-dlq"


def test_a_fragment_that_names_one_output_finds_it_in_any_case(deployment: Deployment) -> None:
    assert deployment.output("modelversion") == "m-1"


def test_a_name_several_stacks_give_the_same_value_is_that_value(deployment: Deployment) -> None:
    assert deployment.output("ModelBucketName") == "models"


def test_a_name_with_different_values_in_two_stacks_is_refused(deployment: Deployment) -> None:
    with pytest.raises(KeyError, match="2 stack outputs with different values match 'FunctionName'"):
        deployment.output("FunctionName")


def test_the_stack_picks_one_of_them(deployment: Deployment) -> None:
    assert deployment.output("FunctionName", stack="retraining") == "retrain-fn"
    assert deployment.output("FunctionName", stack="Serving") == "fn"


def test_a_fragment_of_two_outputs_is_refused_naming_them(deployment: Deployment) -> None:
    with pytest.raises(KeyError, match="DeadLetterQueueUrl, RecorderDeadLetterQueueUrl"):
        deployment.output("LetterQueue")


def test_an_unknown_name_is_refused(deployment: Deployment) -> None:
    with pytest.raises(KeyError, match="no stack output matches 'Nothing' in stacks named \\*Serving\\*"):
        deployment.output("Nothing", stack="Serving")
