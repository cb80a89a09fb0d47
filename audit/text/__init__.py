"""Text classifiers: a TorchScript model that carries its tokenizer and vocabulary, and the
identity-term probes that audit it (docs/text-models.md).

One job per module: ``model`` (what the stage needs of any text model: the protocols and
the batching), ``model_format`` (the ``rai_audit_text.json`` extra file), ``tokenizer``
(text to token ids), ``adapter`` (loading the model and ``predict_proba`` on strings),
``huggingface`` (a ``save_pretrained`` folder as a text model),
``identity`` (the identity term lists and which rows mention which group), ``substitution``
(swapping terms in a sentence), ``intervals`` (Poisson-bootstrap intervals of means),
``counterfactual``, ``templates``, ``subgroup_auc``, ``pii`` and ``attributions`` (the probes),
``settings`` (the ``[text]`` policy section), ``results`` (the frozen types the report reads)
and ``stage`` (the audit stage that runs the probes once, before the checks).

Captum is imported only when attributions run, transformers only when a Hugging Face folder
is audited: both are optional extras.
"""
