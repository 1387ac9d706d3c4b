// Block-page templates compiled into sekisho-intercept (intercept/templates/*.html, embedded at
// build time by embed_templates.cmake).
#pragma once

#include <span>
#include <string_view>

namespace sekisho::intercept {

struct EmbeddedTemplate {
  std::string_view file;  // "blockpage.en.html"
  std::string_view text;
};

std::span<const EmbeddedTemplate> embedded_templates();

}  // namespace sekisho::intercept
