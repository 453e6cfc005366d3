"""The shell's error path: API keywords in a message become the flags the user typed."""

from ulmfit.cli_errors import in_flag_terms


def test_keywords_become_flags_with_their_values():
    fields = ("epochs", "stage_epochs", "device", "freeze_epochs", "lr")
    assert in_flag_terms("pass epochs= (a total) or stage_epochs=(1, 2), not both", fields) == \
        "pass --epochs (a total) or --stage-epochs (1, 2), not both"  # the longer name is not split
    assert in_flag_terms("device='cuda' but no CUDA GPU is available; use device='cpu'", fields) == \
        "--device cuda but no CUDA GPU is available; use --device cpu"
    assert in_flag_terms("lr must be a finite number > 0, got -1", fields) == "--lr must be a finite number > 0, got -1"
    assert in_flag_terms("freeze_epochs=3 is more than epochs=2", fields, renames={"freeze_epochs": "frozen_epochs"}) \
        == "--frozen-epochs 3 is more than --epochs 2"


def test_other_words_are_left_alone():
    message = "the learning rate (lr) of 3 epochs: model_lr=2 and xlr must be"
    assert in_flag_terms(message, ("lr", "epochs")) == message
    assert in_flag_terms("lr= 1", ()) == "lr= 1"
