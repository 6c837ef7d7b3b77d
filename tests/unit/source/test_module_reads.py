"""The static analysis of which files a module reads (design.md §4.9), on plain module texts.

The rule under test: every file function (`file`, `templatefile`, `fileset`, `filebase64`, `fileexists`,
`filemd5`, `filesha1/256/512`, `filebase64sha256/512`) and every path built from `path.module`,
`path.root` or `path.cwd` resolves to artifact-relative files or directories; a path that cannot be
resolved statically (a variable the object sets, `each` over a literal set, an unknown function, an
absolute path, a path leaving the artifact, unparseable code, a template calling file functions) is
reported as unresolved, which makes the caller widen the digest to the whole artifact.
"""

from __future__ import annotations

import pytest

from tfcontroller.source.module_reads import (
    ANY_VARIABLE,
    FILE_FUNCTIONS,
    ModuleReads,
    module_reads,
    template_problems,
    tfvars_names,
)

ROOT = "stacks/app"


def reads(main: str, extra: dict[str, dict[str, str]] | None = None, provided: tuple[str, ...] = ()) -> ModuleReads:
    return module_reads({ROOT: {"main.tf": main}, **(extra or {})}, ROOT, provided)


def output(expr: str) -> str:
    return f'output "o" {{\n  value = {expr}\n}}\n'


@pytest.mark.parametrize("function", sorted(FILE_FUNCTIONS - {"fileset", "templatefile"}))
def test_each_single_path_function_outside_the_module_is_read(function: str) -> None:
    found = reads(output(f'{function}("${{path.module}}/../../templates/motd.tpl")'))
    assert found.paths == {"templates/motd.tpl"} and not found.unresolved


def test_templatefile_reads_the_template_and_marks_it_for_scanning() -> None:
    found = reads(output('templatefile("${path.module}/../../templates/motd.tpl", { name = "x" })'))
    assert found.paths == found.templates == {"templates/motd.tpl"}
    assert not found.unresolved


def test_fileset_reads_the_directory_below_the_pattern_prefix() -> None:
    assert reads(output('fileset(path.module, "*.json")')).paths == {ROOT}
    assert reads(output('fileset("${path.module}/../../cfg", "env/**/*.yaml")')).paths == {"cfg/env"}
    assert reads(output('fileset(path.root, "../shared/{a,b}.txt")')).paths == {"stacks/shared"}
    assert reads(output('fileset(path.module, "exact.txt")')).paths == {f"{ROOT}/exact.txt"}
    unknown = reads(output('fileset(path.module, var.pattern)'))
    assert unknown.unresolved and "pattern" in unknown.unresolved[0]


@pytest.mark.parametrize(("expr", "want"), [
    ('file("${path.module}/../x.txt")', "stacks/x.txt"),
    ('file("${path.root}/../../x.txt")', "x.txt"),
    ('file("${path.cwd}/x.txt")', f"{ROOT}/x.txt"),
    ('file("rel/x.txt")', f"{ROOT}/rel/x.txt"),  # relative to the working directory (the root module)
    ('file(abspath("../y.txt"))', "stacks/y.txt"),
    ('file(join("/", [path.module, "..", "j.txt"]))', "stacks/j.txt"),
    ('file(join("/", [\n    path.module, # the module\n    "..",\n    "m.txt",\n  ]))', "stacks/m.txt"),
    ('file(\n    "${path.module}/../n.txt"\n  )', "stacks/n.txt"),
    ('file(format("%s/../f/%s", path.module, "f.txt"))', "stacks/f/f.txt"),
    ('file("${dirname(path.module)}/d.txt")', "stacks/d.txt"),
    ('file("${path.module}/../${basename(path.module)}.txt")', "stacks/app.txt"),
    ('fileexists("${path.module}/opt.txt") ? file("${path.module}/opt.txt") : ""', f"{ROOT}/opt.txt"),
    ('file("${local.dirs.shared}/${local.names[1]}")', "shared/b.txt"),
    ('file("${var.config.root}/${var.config["file"]}")', "cfg/c.txt"),
])
def test_path_expressions_resolve(expr: str, want: str) -> None:
    found = reads(output(expr) + 'locals {\n  dirs = { shared = "${path.module}/../../shared" }\n'
                  '  names = ["a.txt", "b.txt"]\n}\n'
                  'variable "config" {\n  default = { root = "../../cfg", "file" = "c.txt" }\n}\n')
    assert found.paths - {"shared", "cfg"} == {want}, found  # the two directories: the definitions' own paths
    assert not found.unresolved


def test_locals_and_literal_defaults_resolve_unless_the_object_sets_the_variable() -> None:
    main = ('locals {\n  dir = "${path.module}/../../templates"\n  tpl = "${local.dir}/${var.name}.tpl"\n}\n'
            'variable "name" {\n  default = "motd"\n}\n' + output("templatefile(local.tpl, {})"))
    assert "templates/motd.tpl" in reads(main).templates
    assert not reads(main).unresolved
    overridden = reads(main, provided=("name",))
    assert overridden.unresolved and "var.name" in overridden.unresolved[0]
    assert reads(main, provided=(ANY_VARIABLE,)).unresolved
    tfvars = module_reads({ROOT: {"main.tf": main, "terraform.tfvars": 'name = "other"\n'}}, ROOT)
    assert tfvars.unresolved and "var.name" in tfvars.unresolved[0]


@pytest.mark.parametrize("expr", [
    'file("${path.module}/${var.required}.txt")',  # no default: set from outside
    'file("${path.module}/${uuid()}")',  # a function not evaluated statically
    'file("${path.module}/${trimspace(file("${path.module}/name.txt"))}")',  # path read from a file
    'file(lookup(var.paths, "a"))',
    'file("/etc/hosts")',  # absolute: outside the artifact
    'file("~/.netrc")',
    'file("${path.module}/../../../outside.txt")',  # leaves the artifact
    'file(local.missing)',
])
def test_computed_paths_are_unresolved(expr: str) -> None:
    main = 'variable "required" {}\nvariable "paths" {\n  default = {}\n}\n' + output(expr)
    found = reads(main)
    assert found.unresolved, found
    assert found.unresolved[0].startswith(f"{ROOT}/main.tf:")  # names the file and line for the user


def test_each_and_for_over_a_fileset_stay_inside_its_directory() -> None:
    for_expr = output('[for f in fileset(path.module, "conf/*.json") : file("${path.module}/conf/${f}")]')
    assert reads(for_expr).paths == {f"{ROOT}/conf"} and not reads(for_expr).unresolved
    for_each = ('resource "terraform_data" "t" {\n  for_each = toset(fileset("${path.module}/../../cfg", "*"))\n'
                '  input = file("${path.module}/../../cfg/${each.value}")\n}\n')
    assert reads(for_each).paths == {"cfg"} and not reads(for_each).unresolved
    dynamic = ('resource "x" "y" {\n  dynamic "rule" {\n    for_each = fileset(path.module, "r/*")\n'
               '    content {\n      body = file("${path.module}/r/${rule.value}")\n    }\n  }\n}\n')
    assert reads(dynamic).paths == {f"{ROOT}/r"} and not reads(dynamic).unresolved
    literal_set = ('resource "terraform_data" "t" {\n  for_each = toset(["a", "b"])\n'
                   '  input = file("${path.module}/${each.key}.txt")\n}\n')
    assert reads(literal_set).unresolved
    climbing = output('[for f in fileset(path.module, "*") : file("${path.module}/${f}/../../x")]')
    assert reads(climbing).unresolved


def test_paths_given_to_providers_are_read_too() -> None:
    archive = 'data "archive_file" "src" {\n  type = "zip"\n  source_dir = "${path.module}/../../src"\n}\n'
    assert reads(archive).paths == {"src"}
    relative = 'resource "aws_lambda_function" "f" {\n  filename = "../../build/f.zip"\n}\n'
    assert reads(relative).paths == {"build/f.zip"}
    not_a_path = 'resource "terraform_data" "t" {\n  input = "app-${basename(path.cwd)}"\n}\n'
    assert not reads(not_a_path).unresolved
    computed = 'resource "x" "y" {\n  source = "${path.module}/${var.dir}"\n}\nvariable "dir" {}\n'
    assert reads(computed).unresolved
    command = ('variable "arg" {}\nresource "terraform_data" "t" {\n  provisioner "local-exec" {\n'
               '    command = "${path.module}/run.sh ${var.arg} --data=${path.root}/../data.json"\n  }\n}\n')
    assert reads(command).paths == {f"{ROOT}/run.sh", "stacks/data.json"} and not reads(command).unresolved
    swallowed = 'resource "terraform_data" "t" {\n  input = replace(path.module, "a", "b")\n}\n'
    assert reads(swallowed).unresolved  # path.* inside a function not evaluated: widen


def test_heredocs_and_json_files_are_read() -> None:
    heredoc = 'resource "x" "y" {\n  user_data = <<-EOT\n    #!/bin/sh\n    ${file("${path.module}/../boot.sh")}\n  EOT\n}\n'
    assert reads(heredoc).paths == {"stacks/boot.sh"} and not reads(heredoc).unresolved
    doc = '{"output": {"o": {"value": "${file(\\"${path.module}/../j.txt\\")}"}}}'
    found = module_reads({ROOT: {"main.tf.json": doc}}, ROOT)
    assert found.paths == {"stacks/j.txt"} and not found.unresolved
    computed = '{"variable": {"v": {}}, "output": {"o": {"value": "${file(var.v)}"}}}'
    directive = 'resource "x" "y" {\n  d = <<EOT\n%{ for f in fileset(path.module, "*") }${f}%{ endfor }\nEOT\n}\n'
    assert reads(directive).unresolved
    quoted = output('"%{ for f in fileset(path.module, "*") }${f}%{ endfor }"')
    assert reads(quoted).unresolved
    assert not reads(output('("${path.module}/../p.txt")')).unresolved
    assert module_reads({ROOT: {"main.tf.json": computed}}, ROOT).unresolved


def test_child_modules_read_with_the_callers_arguments() -> None:
    main = ('module "child" {\n  source = "../../modules/child"\n  tpl = "${path.module}/../../t/c.tpl"\n}\n'
            'module "remote" {\n  source = "terraform-aws-modules/s3-bucket/aws"\n}\n')
    child = ('variable "tpl" {}\nvariable "own" {\n  default = "own.txt"\n}\n'
             + output('[templatefile(var.tpl, {}), file("${path.module}/${var.own}"), file("rel.txt")]'))
    found = reads(main, {"modules/child": {"main.tf": child}})
    assert found.modules == {ROOT, "modules/child"}
    assert {"t/c.tpl", "modules/child/own.txt", f"{ROOT}/rel.txt"} <= found.paths
    assert found.templates == {"t/c.tpl"} and not found.unresolved
    computed = 'module "child" {\n  source = "../../modules/child"\n  tpl = var.t\n}\nvariable "t" {}\n'
    unresolved = reads(computed, {"modules/child": {"main.tf": child}})
    assert unresolved.unresolved and unresolved.unresolved[0].startswith("modules/child/main.tf:")
    loop = {"modules/a": {"main.tf": 'module "b" {\n  source = "../b"\n}\n'},
            "modules/b": {"main.tf": 'module "a" {\n  source = "../a"\n}\n'}}
    cyclic = reads('module "a" {\n  source = "../../modules/a"\n}\n', loop)
    assert {"modules/a", "modules/b"} <= cyclic.modules


def test_unparseable_files_widen() -> None:
    found = reads('output "o" {\n  value = ${{{\n}\n')
    assert found.unresolved and "cannot parse" in found.unresolved[0]


def test_template_problems_and_tfvars_names() -> None:
    assert template_problems("t.tpl", "Hello ${name}\n") == []
    assert template_problems("t.tpl", "Hi\n${file(\"x\")}\n") == ["t.tpl:2: the template calls file() itself"]
    assert template_problems("t.tpl", "%{ for f in fileset(\".\", \"*\") }x%{ endfor }")
    assert template_problems("t.sh", "echo file(x)  # not a template expression\n") == []
    assert tfvars_names({"terraform.tfvars": 'a = 1\nb = "x"\n', "x.auto.tfvars.json": '{"c": 2}',
                         "main.tf": "ignored"}) == {"a", "b", "c"}
    assert tfvars_names({"prod.auto.tfvars": "not { hcl"}) == {ANY_VARIABLE}


def test_values_the_run_will_see_resolve_paths() -> None:
    main = ('variable "env" {\n  default = "dev"\n}\n'
            + output('[file("${path.module}/cfg/${var.env}.yaml"), file("${path.module}/${terraform.workspace}.txt")]'))
    known = module_reads({ROOT: {"main.tf": main}}, ROOT, {"env"}, known_vars={"env": "prod"}, workspace="blue")
    assert known.paths == {f"{ROOT}/cfg/prod.yaml", f"{ROOT}/blue.txt"} and not known.unresolved
    assert module_reads({ROOT: {"main.tf": main}}, ROOT, {"env"}).unresolved  # workspace unknown
    in_tfvars = module_reads({ROOT: {"main.tf": main, "z.auto.tfvars": 'env = "qa"\n'}}, ROOT, {"env"},
                             known_vars={"env": "prod"}, workspace="blue")
    assert in_tfvars.unresolved and "var.env" in in_tfvars.unresolved[0]  # which file wins is not ours to say


def test_validations_locals_chains_and_hostile_fan_out() -> None:
    validation = ('variable "cert" {\n  default = "c.pem"\n  validation {\n'
                  '    condition = fileexists("${path.module}/../certs/${var.cert}")\n'
                  '    error_message = "missing"\n  }\n}\n')
    assert reads(validation).paths == {"stacks/certs/c.pem"}
    diamond = "locals {\n" + "".join(f'  l{i} = format("%s", local.l{i + 1}, local.l{i + 1})\n' for i in range(40)) \
        + '  l40 = "x"\n}\n' + output('file("${path.module}/${local.l0}")')
    assert reads(diamond).paths == {f"{ROOT}/x"}  # each local evaluated once, not 2**40 times
    doubling = "locals {\n" + "".join(f'  l{i} = "${{local.l{i + 1}}}${{local.l{i + 1}}}"\n' for i in range(40)) \
        + '  l40 = "x"\n}\n' + output('file("${path.module}/${local.l0}")')
    assert "longer than" in reads(doubling).unresolved[0]  # no 2**40-character string in memory
    fan = {f"m/{i}": {"main.tf": 'variable "x" {\n  default = ""\n}\n' + "".join(
        f'module "c{j}" {{\n  source = "../{i + 1}"\n  x = "${{var.x}}{j}"\n}}\n' for j in range(3))}
        for i in range(12)}  # 3**12 distinct instances
    fan["m/12"] = {"main.tf": "# leaf\n"}
    found = reads('module "m" {\n  source = "../../m/0"\n}\n', fan)
    assert found.unresolved and "cannot be analysed" in found.unresolved[0]
