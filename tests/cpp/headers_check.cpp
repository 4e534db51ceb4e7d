// Compile-only check: the public headers build warning-free as C++17 and C++20,
// with and without exceptions (see CMakeLists.txt), and their inline templates
// instantiate. Never run.
#include <moq/moq.hpp>

#include <string>
#include <utility>

namespace {

[[maybe_unused]] int instantiate_everything() {
  moq::Result<int> value(1);
  moq::Result<int> error(moq::Error(moq::Errc::internal, "x"));
  moq::Result<std::string> text(std::string("t"));
  moq::Result<std::string> moved(std::move(text));
  moq::Result<std::string> copied(moved);
  copied = moq::Result<std::string>(moq::Error(moq::Errc::closed, "c"));
  moq::Status ok;
  moq::Status failed(moq::Error(moq::Errc::timeout, "t"));
  int n = value.value_or(2) + error.value_or(3) + *value;
  n += static_cast<int>(copied.value_or("fallback").size());
  n += ok.has_value() + static_cast<bool>(failed) + (failed.error().code() == moq::Errc::timeout);
  n += static_cast<int>(moved->size());
  moq::Bytes bytes = moq::Bytes::copy("abc");
  n += static_cast<int>(bytes.size() + bytes.view().size() + bytes.to_string().size());
  moq::Object object;
  moq::SubscribeOptions options;
  moq::SessionConfig config;
  moq::TlsConfig tls;
  n += static_cast<int>(object.object_id + options.budget.max_objects + config.bind.size() +
                        tls.root_cert_files.size());
  moq::Result<moq::Session> session = moq::Session::connect("moqt://localhost:1/");
  if (session) {
    moq::Session s = std::move(session).value();
    n += static_cast<int>(s.state() == moq::SessionState::closed);
  }
  moq::Result<moq::Subscription> sub(moq::Error(moq::Errc::closed, "x"));
  moq::Result<moq::Announcement> ann(moq::Error(moq::Errc::closed, "x"));
  moq::Result<moq::TrackWriter> track(moq::Error(moq::Errc::closed, "x"));
  moq::Result<moq::GroupWriter> group(moq::Error(moq::Errc::closed, "x"));
  moq::Result<moq::Object> obj(moq::Object{});
  moq::Result<moq::Namespace> ns = moq::Namespace::parse("a/b");
  n += sub.has_value() + ann.has_value() + track.has_value() + group.has_value() + obj.has_value();
  moq::Result<moq::NamespaceWatch> watch(moq::Error(moq::Errc::closed, "x"));
  moq::Result<moq::PublishedTrack> published(moq::Error(moq::Errc::closed, "x"));
  moq::Result<moq::PublishListener> listener(moq::Error(moq::Errc::closed, "x"));
  moq::PublishOfferHandler offer = [](const moq::Namespace&, std::string_view) {
    return std::optional<moq::AcceptedTrack>(moq::AcceptedTrack{});
  };
  n += watch.has_value() + published.has_value() + listener.has_value() + static_cast<bool>(offer);
  n += static_cast<int>(ns.has_value() && ns.value() == ns.value());
  moq::set_log_handler(nullptr);
  n += static_cast<int>(std::string(moq::to_string(moq::Errc::would_block)).size());
  return n;
}

}  // namespace
