# Writes OUTPUT (a .cc) holding each INPUTS file as a string constant, so sekisho-intercept needs
# no installed data files: the block page works from the binary alone, and a template_dir
# override is the only file an operator ever adds. Run at build time (cmake -P).
set(out "// Generated from intercept/templates by embed_templates.cmake; do not edit.\n")
string(APPEND out "#include \"intercept/templates.h\"\n\nnamespace sekisho::intercept {\n\n")
string(APPEND out "std::span<const EmbeddedTemplate> embedded_templates() {\n  static const EmbeddedTemplate kTemplates[] = {\n")
foreach(input ${INPUTS})
  get_filename_component(name ${input} NAME)
  file(READ ${input} text)
  # Raw string literal: the delimiter cannot occur in the templates (checked below).
  string(FIND "${text}" ")SEKISHO_TPL\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${input} contains the raw-string delimiter")
  endif()
  string(APPEND out "    {\"${name}\", R\"SEKISHO_TPL(${text})SEKISHO_TPL\"},\n")
endforeach()
string(APPEND out "  };\n  return kTemplates;\n}\n\n}  // namespace sekisho::intercept\n")
file(WRITE ${OUTPUT}.tmp "${out}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
