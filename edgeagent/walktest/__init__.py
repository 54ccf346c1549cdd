"""The walk test: every configured sensor fires once while a technician walks the home."""
