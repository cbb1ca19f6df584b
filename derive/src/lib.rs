//! `#[derive(Pytree)]` for functorch: makes a struct whose fields are tensors (or other
//! pytrees) usable as an argument and output of every transform; its gradient comes back as
//! the same struct type.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Index, parse_macro_input};

/// Derive `functorch::Pytree` and `functorch::Args` for a struct whose fields all implement
/// `Pytree` (tensors, tuples, `Vec`s, maps, other derived structs).
///
/// ```text
/// #[derive(Clone, functorch::Pytree)]
/// struct Mlp { w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor }
/// ```
#[proc_macro_derive(Pytree)]
pub fn derive_pytree(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let name = &input.ident;
    let name_str = name.to_string();
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    let Data::Struct(data) = &input.data else {
        return syn::Error::new_spanned(&input.ident, "#[derive(Pytree)] supports structs only")
            .to_compile_error()
            .into();
    };
    let (labels, accessors, build): (
        Vec<String>,
        Vec<proc_macro2::TokenStream>,
        proc_macro2::TokenStream,
    ) = match &data.fields {
        Fields::Named(f) => {
            let ids: Vec<_> = f.named.iter().map(|x| x.ident.clone().unwrap()).collect();
            let labels = ids.iter().map(|i| i.to_string()).collect();
            let acc = ids.iter().map(|i| quote!(self.#i)).collect();
            let build = quote!(#name { #( #ids: ::functorch::Pytree::from_tree(it.next().unwrap().1)?, )* });
            (labels, acc, build)
        }
        Fields::Unnamed(f) => {
            let idx: Vec<Index> = (0..f.unnamed.len()).map(Index::from).collect();
            let labels = (0..f.unnamed.len()).map(|i| i.to_string()).collect();
            let acc = idx.iter().map(|i| quote!(self.#i)).collect();
            let items = idx
                .iter()
                .map(|_| quote!(::functorch::Pytree::from_tree(it.next().unwrap().1)?));
            let build = quote!(#name( #( #items, )* ));
            (labels, acc, build)
        }
        Fields::Unit => (vec![], vec![], quote!(#name)),
    };
    let n = labels.len();
    let types: Vec<_> = data.fields.iter().map(|f| f.ty.clone()).collect();
    let mut where_clause = where_c.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    for t in &types {
        where_clause
            .predicates
            .push(syn::parse_quote!(#t: ::functorch::Pytree));
    }
    quote! {
        impl #impl_g ::functorch::Pytree for #name #ty_g #where_clause {
            fn to_tree(&self) -> ::functorch::Tree {
                ::functorch::Tree::Struct {
                    name: #name_str,
                    fields: vec![ #( (#labels, ::functorch::Pytree::to_tree(&#accessors)), )* ],
                }
            }
            fn from_tree(tree: ::functorch::Tree) -> ::functorch::Result<Self> {
                match tree {
                    ::functorch::Tree::Struct { name, fields } if name == #name_str && fields.len() == #n => {
                        #[allow(unused_mut, unused_variables)]
                        let mut it = fields.into_iter();
                        Ok(#build)
                    }
                    other => Err(::functorch::Error::Structure(format!(
                        "expected the struct {}, got {}", #name_str, other.describe()
                    ))),
                }
            }
        }
        impl #impl_g ::functorch::Args for #name #ty_g #where_clause {
            fn to_args(&self) -> Vec<::functorch::Tree> {
                vec![::functorch::Pytree::to_tree(self)]
            }
            fn from_args(args: Vec<::functorch::Tree>) -> ::functorch::Result<Self> {
                ::functorch::tree::single_arg(args)
            }
        }
    }
    .into()
}
