"""Which files of the artifact a Terraform module can read, found statically (design.md §4.1, §4.9).

Why: the inputs digest decides whether a commit re-plans. A module reads more than its own directory:
`file`, `templatefile`, `fileset`, `filebase64`, `filemd5`, `filesha*`, `filebase64sha*` and `fileexists`
take paths that may leave it (`"${path.module}/../../templates/motd.tpl"`), and providers read paths
given as attributes (`archive_file.source_dir = "${path.module}/../src"`). A commit changing only such a
file must re-plan, so every such path joins the digest.

The rule: every expression that reads a file, or builds a path from `path.module`, `path.root` or
`path.cwd` (up to the end of its word: a command line's arguments are not part of the script's path),
is evaluated with what is known before Terraform runs — string templates, heredocs, `path.*`, locals,
variables with literal defaults that nothing overrides or with the object's literal values,
`terraform.workspace`, the arguments a caller passes to a local child module,
`join`/`format`/`abspath`/`dirname`/`basename`, and `fileset()` results (relative paths without `..`,
so `file("${path.module}/${f}")` over them stays inside the fileset's directory). String literals
starting `./` or `../` count as paths too when they resolve inside the artifact. A path that can
not be resolved this way — computed from an overridden or required variable, `each`/`count` over
anything but a fileset, a function we do not evaluate, an absolute path, a path leaving the artifact, a
file python-hcl2 cannot parse, a template that itself calls a file function — makes the result
*unresolved*, and the caller widens the digest to the whole artifact and says why. Over-inclusion
only costs a needless plan; under-inclusion would skip a change, so every doubt widens.

Pure: the caller passes the Terraform files' texts (artifact-relative directory → file name → text);
nothing here does I/O. Paths are evaluated as Terraform does: relative paths against the working
directory, which for our runs is the root module's directory (`path.cwd`), even inside child modules.

The parts: `analysis` (entry points, module calls, the walk over every expression), `evaluate`
(expressions and the path-building functions), `paths` (from a value to an artifact-relative path),
`syntax` (python-hcl2's parse tree), `values` (the value types, the scope and the limits).
"""

from tfcontroller.source.module_reads.analysis import (
    is_tfvars,
    module_reads,
    template_problems,
    tfvars_names,
    var_file_names,
)
from tfcontroller.source.module_reads.values import (
    ANY_VARIABLE,
    FILE_FUNCTIONS,
    ModuleReads,
    Part,
    Unknown,
    Value,
)

__all__ = [
    "ANY_VARIABLE", "FILE_FUNCTIONS", "ModuleReads", "Part", "Unknown", "Value", "is_tfvars", "module_reads",
    "template_problems", "tfvars_names", "var_file_names",
]
